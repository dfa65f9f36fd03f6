"""Drift in seconds: edit to Drifted, selfHeal edit to corrected, and the memory that
watch-driven drift costs, at N Applications of Flux's MTTP shape.

    .venv/bin/python bench/drift.py --n 1000 --edits 40 --heals 20

Two runs on fresh control planes, watch-driven drift on (GITOPS_DRIFT_WATCHES=true)
and off: N Applications (driftInterval 60m, so the periodic check cannot be the cause)
created and waited Ready; then, with the watches on, ``--edits`` times one after the
other, another field manager scales an Application's Deployment (replicas 0 -> 1, as
``kubectl scale`` or ``kubectl edit`` would) and the time until that Application reports
Drifted=True is taken; ``--heals`` Applications have selfHeal, and the time from their
edit to the Deployment back at 0 replicas is taken. With the watches off the same edits
are made and, after ``--quiet`` seconds, counted as still undetected. Peak RSS of the
operator over each whole run (sync and edits), and its RSS at the end. Then the index's
bytes per managed object, by tracemalloc. Prints every sample's summary and a table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hack"))  # run as a script

from accounting import MIB, MemorySampler, _rss
from environment import NAMESPACE, OURS, Env, Options, create_all, environment
from gitops_operator.drift_watches import Index, inventory_of
from gitops_operator.kube import KubeClient, load_api_client
from gitops_operator.objects import ObjectRef
from manifests import mttp_files
from readiness import wait_apps


def drifted(env: Env, name: str) -> bool:
    conditions = (env.get(env.app_kind, name).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Drifted" and c.get("status") == "True" for c in conditions)


def replicas(kube: KubeClient, i: int) -> int:
    found = kube.get("apps/v1", ObjectRef("apps", "Deployment", NAMESPACE, f"podinfo-{i}"))
    return int(((found or {}).get("spec") or {}).get("replicas") or 0)


def wait(probe: Any, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if probe():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(n: int, edits: int, heals: int, watches: bool, opts: Options) -> dict[str, Any]:
    opts.operator_env = {"GITOPS_DRIFT_WATCHES": "true" if watches else "false"}
    label = f"drift{n}-{'on' if watches else 'off'}"
    out: dict[str, Any] = {"detect": [], "heal": [], "missed": 0}
    with environment(OURS, label, mttp_files(n), opts) as env:
        editor = KubeClient(load_api_client(str(env.cluster.kubeconfig)), field_manager="edit")
        objects = [env.repository()]
        for i in range(n):
            app = env.application(f"app-{i}", f"apps/app-{i}", NAMESPACE, "5m")
            app["spec"]["selfHeal"] = i < heals
            objects.append(app)
        with MemorySampler(env.procs) as sampler:
            started = time.monotonic()
            with env.counting():
                create_all(env, objects)
                waited = wait_apps(env, {f"app-{i}" for i in range(n)}, opts.timeout)
            out["mttp"] = None if waited is None else time.monotonic() - started
            out["requests"] = env.last_requests.total() / n
            print(f"  {label}: all Ready in {out['mttp']}s", flush=True)
            env.print_requests(n, "app")
            time.sleep(5)  # the last syncs' own writes settle
            step = max(1, (n - heals) // max(edits, 1))
            targets = [heals + k * step for k in range(edits) if heals + k * step < n]
            for i in targets:
                ref = ObjectRef("apps", "Deployment", NAMESPACE, f"podinfo-{i}")
                editor.patch("apps/v1", ref, {"spec": {"replicas": 1}})
                if watches:
                    took = wait(lambda i=i: drifted(env, f"app-{i}"), 30.0)
                    if took is None:
                        out["missed"] += 1
                    else:
                        out["detect"].append(took)
            if not watches:
                time.sleep(10)
                out["missed"] = sum(not drifted(env, f"app-{i}") for i in targets)
            for i in range(heals if watches else 0):
                ref = ObjectRef("apps", "Deployment", NAMESPACE, f"podinfo-{i}")
                editor.patch("apps/v1", ref, {"spec": {"replicas": 1}})
                took = wait(lambda i=i: replicas(env.kube, i) == 0, 30.0)
                if took is None:
                    out["missed"] += 1
                else:
                    out["heal"].append(took)
            out["end_rss"] = _rss(env.procs["operator"])[0]
        out["peak_rss"] = sampler.stop()["operator"]
        out["edits"] = len(targets)
    return out


def index_bytes(n_apps: int, per_app: int) -> float:
    """Bytes per managed object of the index, as tracemalloc counts them."""
    statuses = [
        {
            "inventory": {
                "entries": [
                    {"id": f"ns-{a}_obj-{a}-{o}_apps_Deployment", "v": "apps/v1"}
                    for o in range(per_app)
                ]
            }
        }
        for a in range(n_apps)
    ]
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    index = Index()
    for a, status in enumerate(statuses):
        index.update((f"ns-{a}", f"app-{a}"), inventory_of(status))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert len(index.objects) == n_apps * per_app
    return grown / (n_apps * per_app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--heals", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=1500.0)
    args = parser.parse_args()
    opts = Options(drift_interval="60m", timeout=args.timeout)
    on = run(args.n, args.edits, args.heals, True, opts)
    off = run(args.n, args.edits, 0, False, Options(drift_interval="60m", timeout=args.timeout))
    per_object = index_bytes(1000, 4)
    detect, heal = on["detect"], on["heal"]
    rows = [
        (
            f"N={args.n}: edit -> Drifted ({len(detect)} edits), median / p95 / max",
            f"{statistics.median(detect):.2f} / {percentile(detect, 0.95):.2f}"
            f" / {max(detect):.2f} s"
            if detect
            else "-",
        ),
        (
            f"N={args.n}: selfHeal edit -> corrected ({len(heal)} edits), median / p95 / max",
            f"{statistics.median(heal):.2f} / {percentile(heal, 0.95):.2f} / {max(heal):.2f} s"
            if heal
            else "-",
        ),
        ("edits not seen within 30 s, watches on", str(on["missed"])),
        (f"edits still undetected 10 s later, watches off ({off['edits']})", str(off["missed"])),
        (
            f"N={args.n}: operator peak RSS, watches on / off",
            f"{on['peak_rss'] / MIB:.0f} / {off['peak_rss'] / MIB:.0f} MiB"
            f" ({on['peak_rss'] / off['peak_rss']:.2f}x)",
        ),
        (
            f"N={args.n}: operator RSS at the end, watches on / off",
            f"{on['end_rss'] / MIB:.0f} / {off['end_rss'] / MIB:.0f} MiB"
            f" ({on['end_rss'] / off['end_rss']:.2f}x)",
        ),
        (
            f"N={args.n}: created -> all Ready, watches on / off",
            f"{on['mttp'] or 0:.1f} / {off['mttp'] or 0:.1f} s",
        ),
        (
            f"N={args.n}: API requests per app until all Ready, watches on / off",
            f"{on['requests']:.1f} / {off['requests']:.1f}",
        ),
        ("index, bytes per managed object (tracemalloc, 4000 objects)", f"{per_object:.0f} B"),
    ]
    print("\n| measure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
