"""The cost of one Git revert (spec.rollback.gitRevert) against the tests' Git server:
fetch of the branch (at most 200 commits), the revert's tree, commit and push to a new
branch, over smart HTTP with basic auth; and what finding it again costs (a restart).

    PYTHONPATH=hack .venv/bin/python bench/git_revert.py [--files 500] [--commits 100] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from gitops_operator.source import Credentials, GitSource
from gitops_operator.source.hosts import HostPolicy
from gitops_operator.source.revert import RevertPlan, push_revert
from gitserver import GitHTTPServer, git

WRITE = ("writer", "write-secret")


def repository(root: Path, files: int, commits: int) -> tuple[Path, list[str]]:
    """A bare repository whose main has ``commits`` commits, each changing one of
    ``files`` files; the SHAs, oldest first."""
    bare, work = root / "app.git", root / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    for index in range(files):
        (work / f"f{index:04}.yaml").write_text(f"kind: ConfigMap\ndata: {{v: '{index}'}}\n")
    shas = []
    for commit in range(commits):
        (work / f"f{commit % files:04}.yaml").write_text(
            f"kind: ConfigMap\ndata: {{c: {commit}}}\n"
        )
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", f"change {commit}")
        shas.append(git(work, "rev-parse", "HEAD"))
    git(work, "push", "-q", str(bare), "HEAD:main")
    return bare, shas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repos"
        root.mkdir()
        _, shas = repository(root, args.files, args.commits)
        good, failed = shas[-3], shas[-1]
        source = GitSource(Path(tmp) / "cache", allowed_hosts=HostPolicy.parse(["127.0.0.1"]))
        credentials = Credentials(username=WRITE[0], password=WRITE[1])
        pushes, found = [], []
        with GitHTTPServer(root, push_auth=WRITE) as server:
            for run in range(args.runs):
                line = f"Gitops-Operator-Revert: bench/app {good}..{failed} {run}"
                plan = RevertPlan(
                    url=server.url("app.git"),
                    base="main",
                    good=good,
                    failed=failed,
                    branch=f"gitops-operator/revert-{run}",
                    message=f"Revert\n\n{line}\n",
                    trailer=line,
                    author_name="gitops-operator",
                    author_email="bench@example.com",
                    timeout=60,
                )
                started = time.monotonic()
                push_revert(source, plan, credentials)
                pushes.append(time.monotonic() - started)
                started = time.monotonic()
                assert push_revert(source, plan, credentials).reused
                found.append(time.monotonic() - started)
    print(f"repository: {args.files} files, {args.commits} commits; {args.runs} runs")
    print(f"push a revert to a new branch: median {statistics.median(pushes):.3f} s")
    print(f"find it again (after a restart): median {statistics.median(found):.3f} s")


if __name__ == "__main__":
    main()
