"""Sync waves: how long a wave waits once the one before it is healthy, and what waves
cost against the same objects without them.

    .venv/bin/python bench/waves.py                     # 5 waves x 20 ConfigMaps, 3 runs

One Application holds W waves of C ConfigMaps (``gitops-operator.dev/sync-wave`` 0..W-1),
another the same ConfigMaps without waves, each in its own target namespace, synced one
after the other on one control plane. A watch of ConfigMaps records when each is created.
A ConfigMap is healthy once it exists, so a wave is healthy when its last ConfigMap is
created; the row that matters is the gap from there to the first ConfigMap of the next
wave (the operator's next health pass, then the apply). Then: Application created to
Ready, with waves and without. Prints every run, then medians.
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

from environment import OURS, Env, Options, environment
from firstseen import FirstSeen
from readiness import ready

WAVE = "gitops-operator.dev/sync-wave"


def files(waves: int, per_wave: int) -> dict[str, str]:
    out = {}
    for w in range(waves):
        for i in range(per_wave):
            meta = {"name": f"cm-{w}-{i}"}
            out[f"flat/cm-{w}-{i}.yaml"] = yaml.safe_dump(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
            )
            waved = {**meta, "annotations": {WAVE: str(w)}}
            out[f"waves/cm-{w}-{i}.yaml"] = yaml.safe_dump(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": waved}
            )
    return out


def first_created(env: Env, namespace: str, n: int) -> FirstSeen:
    """When each ConfigMap of ``namespace`` was first seen created."""

    def key(obj: Any) -> str | None:
        name = str(obj.metadata.name)
        return name if name.startswith("cm-") else None

    api = client.CoreV1Api(env.api)
    return FirstSeen(api.list_namespaced_config_map, namespace, key=key, n=n)


def sync(env: Env, name: str, path: str, n: int, timeout: float) -> tuple[float, FirstSeen]:
    """Create the Application; seconds to Ready, and when its ConfigMaps were created."""
    env.create_namespace(name)
    created = first_created(env, name, n)
    time.sleep(0.5)  # the watch is open before the first ConfigMap can appear
    started = time.monotonic()
    env.kube.apply(env.application(name, path, name, "5m"))
    while time.monotonic() - started < timeout:
        if ready(env.get(env.app_kind, name), env.sha):
            break
        time.sleep(0.05)
    else:
        raise TimeoutError(f"{name} not Ready within {timeout:.0f}s")
    total = time.monotonic() - started
    created.done.wait(10)
    created.stop()
    return total, created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=5)
    parser.add_argument("--per-wave", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    n = args.waves * args.per_wave
    gaps: list[float] = []
    waved: list[float] = []
    flat: list[float] = []
    for run in range(args.runs):
        label = f"waves{args.waves}x{args.per_wave}-{run}"
        with environment(OURS, label, files(args.waves, args.per_wave), Options()) as env:
            env.kube.apply(env.repository())
            with_waves, created = sync(env, "waves", "waves", n, args.timeout)
            without, _ = sync(env, "flat", "flat", n, args.timeout)
        t = created.times
        run_gaps = [
            min(t[f"cm-{w + 1}-{i}"] for i in range(args.per_wave))
            - max(t[f"cm-{w}-{i}"] for i in range(args.per_wave))
            for w in range(args.waves - 1)
        ]
        gaps += run_gaps
        waved.append(with_waves)
        flat.append(without)
        print(
            f"  run {run}: wave healthy -> next wave created {[f'{g:.2f}' for g in run_gaps]} s;"
            f" created -> Ready: waves {with_waves:.2f} s, no waves {without:.2f} s",
            flush=True,
        )
    label = f"{args.waves} waves x {args.per_wave} ConfigMaps"
    gap, waits = statistics.median(gaps), f"{min(gaps):.2f}-{max(gaps):.2f}"
    rows = [
        (f"{label}: wave healthy -> next wave's objects created", f"{gap:.2f} s ({waits})"),
        (f"{label}: Application created -> Ready", f"{statistics.median(waved):.2f} s"),
        (
            f"the same {n} ConfigMaps, no waves: created -> Ready",
            f"{statistics.median(flat):.2f} s",
        ),
        (
            f"overhead of {args.waves} waves",
            f"{statistics.median(w - f for w, f in zip(waved, flat, strict=True)):.2f} s",
        ),
    ]
    print("| measure | median (min-max) |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
