"""Scenarios sync and noop: one Application of many ConfigMaps, from created to Ready
(beside a bare loop of the same applies), then asked to reconcile with nothing to change."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import flux
from environment import FLUX, OURS, Env, Options, create_all, environment
from gitops_operator.api import REQUESTED_AT_ANNOTATION
from manifests import big_files, configmap
from readiness import ready, wait_apps, wait_repository
from results import Results


def bare_loop(env: Env, objects: list[dict[str, Any]], concurrency: int, plan: bool) -> float:
    """The same server-side applies from this process at ``concurrency``; with ``plan``,
    first a dry-run apply of every object: the same SSA requests our sync sends
    (validation before mutation), without anything else it does."""

    def dry_run(obj: dict[str, Any]) -> None:
        env.kube.apply(obj, dry_run=True)

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        if plan:
            list(pool.map(dry_run, objects))
        list(pool.map(env.kube.apply, objects))
    return time.monotonic() - started


def bench_big(
    systems: list[str],
    objects: int,
    sync_runs: int,
    noop_runs: int,
    opts: Options,
    results: Results,
) -> None:
    """Scenario sync (b) then noop (c), in one control plane per system."""
    files = big_files(objects)
    for system in systems:
        with environment(system, f"big{objects}-{system}", files, opts) as env:
            create_all(env, [env.repository()])
            wait_repository(env)
            name = ""
            for run in range(max(sync_runs, 1)):
                if system == OURS and sync_runs:
                    for plan in (False, True):
                        ns = f"bare-{int(plan)}-{run}"
                        env.create_namespace(ns)
                        body = [
                            {**cm, "metadata": {**cm["metadata"], "namespace": ns}}
                            for cm in map(configmap, range(objects))
                        ]
                        seconds = bare_loop(env, body, opts.apply_concurrency, plan)
                        measure = "dry-run+apply" if plan else "apply"
                        print(
                            f"  bare loop, {objects} {measure} at {opts.apply_concurrency}: "
                            f"{seconds:.2f}s",
                            flush=True,
                        )
                        results.add(
                            f"sync {objects} objects: bare loop, dry-run then apply"
                            if plan
                            else f"sync {objects} objects: bare loop, apply only",
                            OURS,
                            seconds,
                            "s",
                        )
                name, target = f"big-{run}", f"big-{run}"
                env.create_namespace(target)
                with env.counting():
                    cpu0 = env.cpu()
                    started = time.monotonic()
                    create_all(env, [env.application(name, "big", target, "10m")])
                    waited = wait_apps(env, {name}, opts.timeout)
                    cpu1 = env.cpu()
                total = None if waited is None else time.monotonic() - started
                cpu = sum(cpu1[k] - cpu0[k] for k in env.procs)
                print(
                    f"  sync {objects} objects {system} run {run}: Ready in "
                    f"{'TIMEOUT' if total is None else f'{total:.2f}s'}; controller CPU "
                    f"{cpu:.1f}s, apiserver+etcd "
                    f"{cpu1['control-plane'] - cpu0['control-plane']:.1f}s",
                    flush=True,
                )
                env.print_requests(objects, "object")
                if sync_runs:
                    results.add(f"sync {objects} objects: created -> Ready", system, total, "s")
                    results.add(f"sync {objects} objects: controller CPU", system, cpu, "s")
                if total is None:
                    return
            time.sleep(5)  # let the last sync's events and status writes drain
            for run in range(noop_runs):
                with env.counting():
                    wall, cpu, plane = noop_once(env, name, run)
                print(
                    f"  no-op reconcile of {objects} objects {system} run {run}: {wall:.2f}s, "
                    f"controller CPU {cpu:.2f}s, apiserver+etcd {plane:.2f}s",
                    flush=True,
                )
                env.print_requests(objects, "object")
                results.add(f"no-op reconcile {objects} objects: wall", system, wall, "s")
                results.add(f"no-op reconcile {objects} objects: controller CPU", system, cpu, "s")
                results.add(
                    f"no-op reconcile {objects} objects: apiserver+etcd CPU", system, plane, "s"
                )
                time.sleep(3)


def noop_once(env: Env, name: str, run: int) -> tuple[float, float, float]:
    key = flux.REQUESTED_AT if env.system == FLUX else REQUESTED_AT_ANNOTATION
    value = f"{datetime.now(UTC).isoformat()}-{run}"
    cpu0 = env.cpu()
    started = time.monotonic()
    env.annotate(name, key, value)
    deadline = started + env.opts.timeout
    while True:
        obj = env.get(env.app_kind, name)
        status = obj.get("status") or {}
        if status.get("lastHandledReconcileAt") == value and ready(obj, env.sha):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"no-op reconcile not handled after {env.opts.timeout}s")
        time.sleep(0.1 if time.monotonic() - started < 10 else 0.5)
    wall = time.monotonic() - started
    cpu1 = env.cpu()
    cpu = sum(cpu1[k] - cpu0[k] for k in env.procs)
    return wall, cpu, cpu1["control-plane"] - cpu0["control-plane"]
