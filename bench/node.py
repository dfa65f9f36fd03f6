"""Benchmarks of the real node: start to Ready, the operator image, and the stories of
tests/e2e timed end to end (helm install, leader takeover, each failing workload).

    make bench-node                 # 3 node starts, one image build, one e2e run
    make bench-node ARGS="--runs 5"

The e2e numbers come from the tests' own ``bench:`` lines, so a number is printed only
by a test that passed what it measures.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import operatorimage
from localcluster import LocalCluster, bin_dir, build_binaries
from realnode import cannot_run

ROOT = Path(__file__).resolve().parent.parent


def bench_node_start(runs: int) -> None:
    ready = []
    for _ in range(runs):
        with LocalCluster(nodes=0, real_node=True) as cluster:
            if cluster.node is None:
                raise SystemExit(f"no real node: {cluster.no_real_node}")
            ready.append(cluster.node.ready_seconds)
    print(
        f"real node start (containerd, kubelet, kube-proxy) to Node Ready: median"
        f" {statistics.median(ready):.2f}s, max {max(ready):.2f}s over {runs} runs"
    )


def bench_image() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        built = operatorimage.build(bin_dir(), rebuild=True, cache=Path(tmp))
    print(
        f"operator image (empty image cache, warm apt and pip): built in {built['seconds']}s,"
        f" {int(built['compressed_bytes']) / 1e6:.1f} MB compressed,"
        f" {int(built['uncompressed_bytes']) / 1e6:.1f} MB uncompressed, {built['digest']}"
    )


def bench_e2e() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e", "-q", "-s", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in result.stdout.splitlines():
        if "bench: " in line:
            print(line.split("bench: ", 1)[1])
    print(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    build_binaries()
    if reason := cannot_run(bin_dir()):
        raise SystemExit(f"no real node on this machine: {reason}")
    bench_node_start(args.runs)
    bench_image()
    bench_e2e()


if __name__ == "__main__":
    main()
