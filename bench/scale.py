"""Scale benchmarks on the local control plane: our operator, and Flux side by side.

    .venv/bin/python bench/scale.py --scenario mttp --n 100 500 1000 --flux
    .venv/bin/python bench/scale.py --scenario sync --flux       # 1000 objects, bare loop
    .venv/bin/python bench/scale.py --scenario noop --flux       # no-op reconcile
    .venv/bin/python bench/scale.py --scenario steady            # 100 apps idle, 60 s
    .venv/bin/python bench/scale.py --scenario monorepo --flux   # 1000 apps, one-app commits
    .venv/bin/python bench/scale.py --scenario sharding --n 300  # 3 replicas, one killed
    .venv/bin/python bench/scale.py --scenario all --flux --quick

Scenarios (bench/README.md says what each number means):

mttp    Flux's MTTP shape: N Applications (Kustomizations) from one Git repository, each a
        path holding a Deployment scaled to 0, a ServiceAccount, a Service and an Ingress;
        time from the custom resources created to all Ready, and the controllers' peak RSS.
sync    one Application of --objects ConfigMaps: time from created to Ready; and a bare loop
        of the same server-side applies at GITOPS_APPLY_CONCURRENCY (the floor here).
noop    the same Application asked to reconcile (requestedAt annotation) with nothing to
        change: wall time until status.lastHandledReconcileAt, and controller CPU seconds.
steady  N (default 100) Ready Applications, no change: controller CPU and Git requests per
        minute over --duration windows.
monorepo
        N (default 1000) Applications of one repository (the mttp shape), all Ready; then a
        commit changing every app, --runs (5) commits touching one app each, and (ours) as
        many signed push webhooks: time until applied, controller CPU, API requests, and
        the one-app commit's CPU as a share of the full pass's (bench/scenario_monorepo.py).
sharding
        ours only, not part of all: the mttp shape (N default 300) with three hash-sharded
        replicas, one SIGKILLed once a third is Ready: time to all Ready, takeover time,
        shares, and the audit log's proof that no Application was written by two replicas
        at once (bench/scenario_sharding.py).

Every run starts its own control plane (named scale-<scenario>-<system>-<run>-<pid>) and
stops it afterwards; our operator runs as ``python -m gitops_operator run``, Flux's
controllers as the binaries of hack/build-flux.sh. Prints every run, then medians and
ours/Flux ratios. Timings are noisy on a shared 2-core machine: compare medians.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hack"))  # run as a script

import flux
from environment import FLUX, OURS, Options
from localcluster import build_binaries
from results import Results
from scenario_monorepo import bench_monorepo
from scenario_mttp import bench_mttp
from scenario_sharding import bench_sharding
from scenario_steady import bench_steady
from scenario_sync import bench_big


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario",
        nargs="+",
        choices=["mttp", "sync", "noop", "steady", "monorepo", "sharding", "all"],
        default=["all"],
        help="one or more; sync and noop together share one control plane per system",
    )
    parser.add_argument(
        "--n", type=int, nargs="+", help="mttp: 100 500 1000; steady alone: 100; monorepo: 1000"
    )
    parser.add_argument("--objects", type=int, help="sync/noop: objects in the one app (1000)")
    parser.add_argument("--runs", type=int, help="repetitions of mttp and sync (3), monorepo (5)")
    parser.add_argument("--noop-runs", type=int, default=5)
    parser.add_argument("--flux", action="store_true", help="also run Flux; print ratios")
    parser.add_argument("--no-ours", action="store_true", help="only Flux (with --flux)")
    parser.add_argument("--quick", action="store_true", help="N=100 (and 100 objects), 1 run")
    parser.add_argument("--concurrency", type=int, default=10, help="GITOPS_CONCURRENCY")
    parser.add_argument("--apply-concurrency", type=int, default=8, help="GITOPS_APPLY_CONCURRENCY")
    parser.add_argument(
        "--app-interval", help="Application/Kustomization interval (60m; steady: 5m)"
    )
    parser.add_argument("--drift-interval", help="Application driftInterval (60m; steady: 1m)")
    parser.add_argument("--repo-interval", help="GitRepository interval (1m; monorepo: 10m)")
    parser.add_argument("--duration", type=float, default=60.0, help="steady: window seconds")
    parser.add_argument("--windows", type=int, default=3, help="steady: windows")
    parser.add_argument("--timeout", type=float, default=1500.0, help="per wait, seconds")
    parser.add_argument(
        "--flux-qps", type=float, help="Flux's --kube-api-qps (default: Flux's own, 50)"
    )
    parser.add_argument(
        "--flux-burst", type=int, help="Flux's --kube-api-burst (default: Flux's own, 300)"
    )
    parser.add_argument("--keep-logs", type=Path, help="copy controller logs here")
    parser.add_argument(
        "--diagnose", action="store_true", help="every API request kind, and its apiserver time"
    )
    args = parser.parse_args()

    opts = Options(
        concurrency=args.concurrency,
        apply_concurrency=args.apply_concurrency,
        app_interval=args.app_interval or "60m",
        drift_interval=args.drift_interval or "60m",
        repo_interval=args.repo_interval or "1m",
        timeout=args.timeout,
        keep_logs=args.keep_logs,
        diagnose=args.diagnose,
        flux_qps=args.flux_qps,
        flux_burst=args.flux_burst,
    )
    systems = ([] if args.no_ours else [OURS]) + ([FLUX] if args.flux else [])
    results = Results()
    print(f"control-plane binaries: {build_binaries():.1f}s", flush=True)
    if FLUX in systems:
        print(f"flux binaries: {flux.build_flux():.1f}s {flux.versions()}", flush=True)
    print(
        f"ours: GITOPS_CONCURRENCY={opts.concurrency} GITOPS_APPLY_CONCURRENCY="
        f"{opts.apply_concurrency}; Flux: source-controller --concurrent="
        f"{flux.SOURCE_CONCURRENCY}, kustomize-controller --concurrent="
        f"{flux.KUSTOMIZE_CONCURRENCY}, --kube-api-qps={opts.flux_qps or 'default'} "
        f"--kube-api-burst={opts.flux_burst or 'default'}",
        flush=True,
    )
    scenarios = [
        name
        for name in ("mttp", "sync", "noop", "steady", "monorepo", "sharding")
        if name in args.scenario or ("all" in args.scenario and name != "sharding")
    ]
    objects = args.objects or (100 if args.quick else 1000)
    started = time.monotonic()
    for scenario in scenarios:
        began = time.monotonic()
        print(f"\n== {scenario}", flush=True)
        if scenario == "mttp":
            for n in args.n or ([100] if args.quick else [100, 500, 1000]):
                runs = args.runs or (1 if args.quick else 3)
                bench_mttp(systems, n, runs, opts, results)
        elif scenario == "sync":
            runs = args.runs or (1 if args.quick else 3)
            noop = args.noop_runs if "noop" in scenarios else 0
            bench_big(systems, objects, runs, noop, opts, results)
        elif scenario == "noop" and "sync" not in scenarios:
            bench_big(systems, objects, 0, args.noop_runs, opts, results)
        elif scenario == "steady" and OURS in systems:
            steady = Options(**{**opts.__dict__})
            steady.app_interval = args.app_interval or "5m"  # the product defaults
            steady.drift_interval = args.drift_interval or "1m"
            for n in args.n if args.n and scenarios == ["steady"] else [100]:
                bench_steady(n, args.duration, args.windows, steady, results)
        elif scenario == "monorepo":
            mono = Options(**{**opts.__dict__})
            mono.repo_interval = args.repo_interval or "10m"  # pushes and requests trigger
            # the product defaults: an app a commit does not wake takes it at its next pass
            mono.app_interval = args.app_interval or "5m"
            mono.drift_interval = args.drift_interval or "1m"
            for n in (
                args.n if args.n and scenarios == ["monorepo"] else [100 if args.quick else 1000]
            ):
                bench_monorepo(systems, n, args.runs or (1 if args.quick else 5), mono, results)
        elif scenario == "sharding":
            for n in args.n if args.n and scenarios == ["sharding"] else [300]:
                bench_sharding(n, args.runs or 1, opts, results)
        print(f"== {scenario} took {time.monotonic() - began:.0f}s", flush=True)
    results.print()
    print(f"\ntotal {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
