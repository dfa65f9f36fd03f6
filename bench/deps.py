"""Ordering: Applications in dependency chains, created at once, to all Ready.

    .venv/bin/python bench/deps.py                      # 100 apps, chains of depth 10
    .venv/bin/python bench/deps.py --n 100 --depth 10 --runs 3 --flux

Each Application (Flux: Kustomization) holds one ConfigMap and depends on the one before
it in its chain (``spec.dependsOn``). All are created at once, with the GitRepository.
A watch records when each turns Ready (for its current generation, at the commit); the
row that matters is the time from a dependency turning Ready to its dependent turning
Ready: the dependent's wake-up plus its own (tiny) sync. Ours is woken by the watch of
its dependency; Flux re-checks a waiting Kustomization every --requeue-dependency (30s
by default). Prints every run, then medians; results go in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hack"))  # run as a script

import yaml
from kubernetes import client

import flux
from environment import FLUX, NAMESPACE, OURS, Env, Options, create_all, environment
from firstseen import FirstSeen
from readiness import ready
from results import Results


def files(n: int) -> dict[str, str]:
    return {
        f"deps/app-{i}/cm.yaml": yaml.safe_dump(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}}
        )
        for i in range(n)
    }


def dependency_of(i: int, depth: int) -> int | None:
    """App i depends on i-1 unless it starts a chain."""
    return None if i % depth == 0 else i - 1


def with_dependency(obj: dict[str, Any], dependency: int | None) -> dict[str, Any]:
    if dependency is not None:
        obj["spec"]["dependsOn"] = [{"name": f"app-{dependency}"}]
    return obj


def ready_times(env: Env, n: int) -> FirstSeen:
    """When each Application (Kustomization) is first Ready at the bench's commit."""
    group, version, plural = env.app_kind
    api = client.CustomObjectsApi(env.api)

    def key(obj: dict[str, Any]) -> str | None:
        return str(obj["metadata"]["name"]) if ready(obj, env.sha) else None

    return FirstSeen(
        api.list_namespaced_custom_object, group, version, NAMESPACE, plural, key=key, n=n
    )


def bench(systems: list[str], n: int, depth: int, runs: int, opts: Options) -> Results:
    results = Results()
    for run in range(runs):
        for system in systems:
            with environment(system, f"deps{n}-{system}-{run}", files(n), opts) as env:
                objects = [env.repository()] + [
                    with_dependency(
                        env.application(f"app-{i}", f"deps/app-{i}", NAMESPACE, "5m"),
                        dependency_of(i, depth),
                    )
                    for i in range(n)
                ]
                times = ready_times(env, n)
                started = time.monotonic()
                create_all(env, objects)
                finished = times.done.wait(opts.timeout)
                times.stop()
                total = time.monotonic() - started if finished else None
                waits = [
                    times.times[f"app-{i}"] - times.times[f"app-{dep}"]
                    for i in range(n)
                    if (dep := dependency_of(i, depth)) is not None
                    and f"app-{i}" in times.times
                    and f"app-{dep}" in times.times
                ]
                median = statistics.median(waits) if waits else None
                p95 = sorted(waits)[int(0.95 * (len(waits) - 1))] if waits else None
                print(
                    f"  deps n={n} depth={depth} {system} run {run}: all Ready in "
                    f"{'TIMEOUT' if total is None else f'{total:.1f}s'};"
                    f" dependency Ready -> dependent Ready: median "
                    f"{'-' if median is None else f'{median:.2f}s'}, p95 "
                    f"{'-' if p95 is None else f'{p95:.2f}s'} ({len(waits)} links)",
                    flush=True,
                )
                label = f"deps N={n} depth={depth}"
                results.add(f"{label}: created -> all Ready", system, total, "s")
                results.add(
                    f"{label}: dependency Ready -> dependent Ready, median", system, median, "s"
                )
                results.add(f"{label}: dependency Ready -> dependent Ready, p95", system, p95, "s")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--flux", action="store_true", help="run Flux side by side")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    systems = [OURS, FLUX] if args.flux else [OURS]
    if args.flux:
        print(f"flux binaries: {flux.build_flux():.1f}s", flush=True)
    results = bench(systems, args.n, args.depth, args.runs, Options(timeout=args.timeout))
    results.print()


if __name__ == "__main__":
    main()
