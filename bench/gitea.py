"""What the real Gitea of the tests costs: its build (a no-op once cached), the binary's
size, and the start of a fresh server (process start, SQLite schema, admin and token) as
tests/integration/test_gitea.py pays it once per module.

    PYTHONPATH=hack .venv/bin/python bench/gitea.py            # 5 starts
    PYTHONPATH=hack .venv/bin/python bench/gitea.py --runs 9

The cold build is not repeated here (about 6 CPU-minutes); measure it with an empty Go
build cache: ``GOCACHE=$(mktemp -d) hack/build-gitea.sh`` after removing
``~/.cache/gitops-operator/bin/gitea``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from giteaserver import GiteaServer, gitea_binary
from localcluster import run_build_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    build = run_build_script("build-gitea.sh")
    binary = gitea_binary()
    assert binary is not None, "hack/build-gitea.sh built no Gitea"
    starts: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-gitea-") as tmp:
        for _ in range(args.runs):
            began = time.monotonic()
            server = GiteaServer(Path(tmp)).start()
            starts.append(time.monotonic() - began)
            server.stop()
    starts.sort()
    p95 = starts[min(len(starts) - 1, round(0.95 * (len(starts) - 1)))]
    print("\n| measure | median | p95 |")
    print("| --- | --- | --- |")
    print(f"| `hack/build-gitea.sh` with Gitea cached | {build:.2f} s | |")
    print(f"| Gitea binary size | {binary.stat().st_size / 2**20:.0f} MiB | |")
    print(
        f"| Gitea start to API answering, admin and token made ({args.runs} runs) "
        f"| {statistics.median(starts):.2f} s | {p95:.2f} s |"
    )


if __name__ == "__main__":
    main()
