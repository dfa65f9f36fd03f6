"""Scenario mttp: Flux's MTTP shape, N Applications (Kustomizations) of one repository,
from created to all Ready; peak RSS and CPU of the controllers."""

from __future__ import annotations

import time

from accounting import MIB, MemorySampler
from environment import FLUX, NAMESPACE, Options, create_all, environment
from manifests import mttp_files
from readiness import wait_apps
from results import Results


def bench_mttp(systems: list[str], n: int, runs: int, opts: Options, results: Results) -> None:
    files = mttp_files(n)
    for run in range(runs):
        for system in systems:
            with environment(system, f"mttp{n}-{system}-{run}", files, opts) as env:
                names = {f"app-{i}" for i in range(n)}
                objects = [env.repository()] + [
                    env.application(f"app-{i}", f"apps/app-{i}", NAMESPACE, "5m") for i in range(n)
                ]
                with MemorySampler(env.procs) as sampler, env.counting():
                    cpu0 = env.cpu()
                    started = time.monotonic()
                    create_all(env, objects)
                    created = time.monotonic() - started
                    waited = wait_apps(env, names, opts.timeout)
                    cpu1 = env.cpu()
                peaks = sampler.stop()
                anon = sampler.anon_peaks
                total = None if waited is None else created + waited
                peak = sum(peaks.values())
                cpu = sum(cpu1[k] - cpu0[k] for k in env.procs)
                plane = cpu1["control-plane"] - cpu0["control-plane"]
                print(
                    f"  mttp n={n} {system} run {run}: all Ready in "
                    f"{'TIMEOUT' if total is None else f'{total:.1f}s'} (CRs created in "
                    f"{created:.1f}s); peak RSS "
                    + ", ".join(
                        f"{k} {v / MIB:.0f} MiB ({anon[k] / MIB:.0f} not file-backed)"
                        for k, v in peaks.items()
                    )
                    + f"; CPU controllers {cpu:.1f}s, apiserver+etcd {plane:.1f}s",
                    flush=True,
                )
                env.print_requests(n, "app")
                per_app = env.last_requests.total() / n
                results.add(f"mttp N={n}: API requests per app (all clients)", system, per_app, "")
                results.add(f"mttp N={n}: created -> all Ready", system, total, "s")
                results.add(f"mttp N={n}: peak RSS, all controllers", system, peak / MIB, "MiB")
                results.add(
                    f"mttp N={n}: peak RSS not file-backed, all controllers",
                    system,
                    sum(anon.values()) / MIB,
                    "MiB",
                )
                if system == FLUX:
                    kc = peaks["kustomize-controller"] / MIB
                    results.add(f"mttp N={n}: peak RSS, kustomize-controller", system, kc, "MiB")
                results.add(f"mttp N={n}: controller CPU", system, cpu, "s")
                results.add(f"mttp N={n}: apiserver+etcd CPU", system, plane, "s")
