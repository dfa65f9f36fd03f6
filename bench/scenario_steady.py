"""Scenario steady: N Ready Applications and no change; controller CPU and Git
requests per minute over windows of idle time."""

from __future__ import annotations

import time
from collections import Counter

from environment import NAMESPACE, OURS, Options, create_all, environment
from manifests import mttp_files
from readiness import wait_apps
from results import Results


def bench_steady(n: int, duration: float, windows: int, opts: Options, results: Results) -> None:
    """Scenario steady (d): our operator only (Flux idles on its intervals)."""
    with environment(OURS, f"steady{n}-{OURS}", mttp_files(n), opts) as env:
        names = {f"app-{i}" for i in range(n)}
        create_all(
            env,
            [env.repository()]
            + [env.application(f"app-{i}", f"apps/app-{i}", NAMESPACE, "5m") for i in range(n)],
        )
        if wait_apps(env, names, opts.timeout) is None:
            return
        settle = 30.0
        print(f"  {n} Applications Ready; settling {settle:.0f}s", flush=True)
        time.sleep(settle)
        label = f"steady N={n} (interval {opts.app_interval}, drift {opts.drift_interval})"
        for window in range(windows):
            with env.counting():
                cpu0, git0 = env.cpu(), Counter(env.server.requests)
                started = time.monotonic()
                time.sleep(duration)
                elapsed = time.monotonic() - started
                cpu1, git1 = env.cpu(), Counter(env.server.requests)
            cpu = sum(cpu1[k] - cpu0[k] for k in env.procs)
            plane = cpu1["control-plane"] - cpu0["control-plane"]
            per_minute = {k: round((git1[k] - git0[k]) * 60 / elapsed, 1) for k in git1}
            print(
                f"  steady window {window}: operator CPU {cpu:.2f}s in {elapsed:.0f}s "
                f"= {100 * cpu / elapsed:.2f} % of one core; apiserver+etcd "
                f"{100 * plane / elapsed:.2f} %; git requests/min {per_minute}",
                flush=True,
            )
            env.print_requests(n, f"app in {elapsed:.0f}s")
            results.add(f"{label}: operator CPU", OURS, 100 * cpu / elapsed, "%")
            results.add(f"{label}: apiserver+etcd CPU", OURS, 100 * plane / elapsed, "%")
            for kind in ("advertise", "ls-refs", "fetch"):
                results.add(
                    f"{label}: git {kind} requests", OURS, per_minute.get(kind, 0.0), "/min"
                )
