"""The cost of spec.verify: one signature verification, and one interval's verification
of an unchanged commit (objects read from the mirror, then verified), per format.

    .venv/bin/python bench/verify.py              # 21 runs of each, medians and p95 in ms

No cluster: a repository with an OpenPGP-signed commit, an SSH-signed commit and a signed
tag is made with the real gpg, ssh-keygen and git in a temporary directory, read through
the operator's GitSource (file:// allowed for the benchmark), and verified with gpgv and
ssh-keygen as the operator does. Results go in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gitops_operator.api import GitRef, RefKind
from gitops_operator.source import GitSource, trusted_keys, verify_object


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        root = Path(tmp)
        (root / "gnupg").mkdir(mode=0o700)
        env = {**os.environ, "GNUPGHOME": str(root / "gnupg")}
        try:
            measure(root, env, runs)
        finally:
            subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False)


def measure(root: Path, env: dict[str, str], runs: int) -> None:
    def run(*args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    uid = "Bench <bench@example.com>"
    run("gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign")
    fpr = run("gpg", "--list-keys", "--with-colons", uid).split("fpr:::::::::")[1].split(":")[0]
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(root / "ssh"))
    work, bare = root / "work", root / "repo.git"
    run("git", "init", "-q", "-b", "main", str(work))
    who = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    ssh = [*who, "-c", "gpg.format=ssh", "-c", f"user.signingkey={root / 'ssh.pub'}"]
    (work / "a.yaml").write_text("a: 1\n")
    run("git", "add", ".", cwd=work)
    run(*who, "-c", f"user.signingkey={fpr}", "commit", "-q", "-S", "-m", "openpgp", cwd=work)
    run(*ssh, "commit", "-q", "--allow-empty", "-S", "-m", "ssh", cwd=work)
    run(*who, "-c", f"user.signingkey={fpr}", "tag", "-s", "-m", "v1", "v1", "HEAD~1", cwd=work)
    run("git", "clone", "-q", "--bare", str(work), str(bare))

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    data = {"bench.asc": b64(run("gpg", "--export", "--armor", fpr))}
    data["bench.pub"] = b64((root / "ssh.pub").read_text())
    keys = trusted_keys("bench/keys", data)
    source = GitSource(root / "cache", allow_local=True)
    url = f"file://{bare}"
    tag = source.resolve_revision(url, GitRef(RefKind.TAG, "v1"), timeout=30)
    head = source.resolve_revision(url, GitRef(RefKind.BRANCH, "main"), timeout=30)

    def interval(revision, commit: bool, tag: bool) -> Callable[[], None]:
        def once() -> None:
            for signed in source.signed_objects(url, revision, commit=commit, tag=tag, timeout=30):
                verify_object(signed, keys, name=str(signed.kind))

        return once

    [openpgp] = source.signed_objects(url, tag, commit=True, tag=False, timeout=30)
    [ssh_signed] = source.signed_objects(url, head, commit=True, tag=False, timeout=30)
    rows: list[tuple[str, Callable[[], object]]] = [
        ("parse the Secret's keys (1 OpenPGP, 1 SSH)", lambda: trusted_keys("b/k", data)),
        ("verify an OpenPGP-signed commit (gpgv)", lambda: verify_object(openpgp, keys, name="c")),
        (
            "verify an SSH-signed commit (ssh-keygen -Y, twice)",
            lambda: verify_object(ssh_signed, keys, name="c"),
        ),
        ("one interval, mode HEAD, SSH commit (read + verify)", interval(head, True, False)),
        ("one interval, mode TagAndHEAD, OpenPGP tag + commit", interval(tag, True, True)),
    ]
    print(f"| measure ({runs} runs) | median | p95 |\n| --- | --- | --- |")
    for name, work_once in rows:
        work_once()  # warm: the first run pays for imports and page cache
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            work_once()
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(f"| {name} | {statistics.median(times):.1f} ms | {p95:.1f} ms |")


if __name__ == "__main__":
    main()
