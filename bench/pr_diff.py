"""The cost of ``gitops-operator diff --base`` on a large plain directory, no cluster.

    .venv/bin/python bench/pr_diff.py                 # 1000 objects, 5 runs
    .venv/bin/python bench/pr_diff.py --objects 5000 --runs 3

A repository with N objects (ConfigMaps, Deployments and Services in equal parts) gets a
commit that changes the image of a tenth of the Deployments, adds 10 ConfigMaps and
removes 10; the command diffs the two commits (exit 1) and, as a second row, the working
tree against HEAD with nothing changed (exit 0). Times include the process start.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = str(Path(sys.executable).with_name("gitops-operator"))


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def objects(n: int, *, image: int, skip: range = range(0), extra: int = 0) -> str:
    docs = []
    for i in range(n // 3):
        if i not in skip:
            docs.append(
                f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: config-{i}}}\n"
                f"data: {{message: hello {i}, color: '#{i:06x}'}}\n"
            )
        tag = "2" if i % 10 == 0 and image == 2 else "1"
        docs.append(
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i}}}\nspec:\n"
            f"  replicas: 2\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n"
            f"    metadata: {{labels: {{app: app-{i}}}}}\n    spec:\n      containers:\n"
            f"        - name: app\n          image: registry.example/app-{i}:{tag}\n"
            f"          ports: [{{containerPort: 8080}}]\n"
        )
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: app-{i}}}\nspec:\n"
            f"  selector: {{app: app-{i}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
        )
    docs += [
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: extra-{i}}}\ndata: {{a: b}}\n"
        for i in range(extra)
    ]
    return "---\n".join(docs)


def timed(repo: Path, *argv: str, expect: int, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([CLI, "diff", "-n", "bench", *argv], cwd=repo, capture_output=True)
        times.append(time.perf_counter() - start)
        if done.returncode != expect:
            raise SystemExit(f"exit {done.returncode}, wanted {expect}: {done.stderr.decode()}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pr-diff-") as tmp:
        repo = Path(tmp)
        git(repo, "init", "-q", "-b", "main")
        (repo / "apps").mkdir()
        who = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
        (repo / "apps" / "all.yaml").write_text(objects(args.objects, image=1))
        git(repo, "add", "-A")
        git(repo, *who, "commit", "-qm", "base")
        changed = objects(args.objects, image=2, skip=range(10), extra=10)
        (repo / "apps" / "all.yaml").write_text(changed)
        git(repo, *who, "commit", "-qam", "head")
        total = 3 * (args.objects // 3)
        differ = len(range(0, args.objects // 3, 10)) + 20
        rows = {
            f"{total} objects, two commits, {differ} differ": timed(
                repo, "--base", "HEAD~1", "--head", "HEAD", "apps", expect=1, runs=args.runs
            ),
            f"{total} objects, working tree vs HEAD, none differ": timed(
                repo, "--base", "HEAD", "apps", expect=0, runs=args.runs
            ),
        }
    for name, values in rows.items():
        print(f"{name:<52} median {statistics.median(values):5.2f}s  (n={len(values)})")


if __name__ == "__main__":
    main()
