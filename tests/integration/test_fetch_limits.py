"""Fetching from a real Git server over smart HTTP stays within the operator's bounds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops_operator.api import GitRef, RefKind
from gitops_operator.errors import StalledError
from gitops_operator.source import GitSource
from gitops_operator.source.hosts import HostPolicy

LIMIT = 4 * 1024 * 1024
PACK = 24 * 1024 * 1024
FILES = 1000  # with LIMIT, a pack may hold 4 MiB + 128 KiB


def disk_usage(root: Path) -> int:
    return sum((Path(d) / f).stat().st_size for d, _, files in os.walk(root) for f in files)


def test_a_pack_larger_than_the_limit_is_abandoned_while_it_downloads(tmp_path, repo, git_server):
    # Random bytes do not compress: the pack on the wire is as large as the file.
    (repo.work / "blob.bin").write_bytes(os.urandom(PACK))
    sha = repo.commit({"app/a.yaml": "kind: ConfigMap\n"})
    source = GitSource(
        tmp_path / "cache",
        allowed_hosts=HostPolicy.parse(["127.0.0.1"]),
        max_tree_bytes=LIMIT,
        max_tree_files=FILES,
    )
    before = git_server.bytes_sent
    with pytest.raises(StalledError) as err:
        source.fetch(repo.url, GitRef(RefKind.BRANCH, "main"), sha, timeout=60)
    assert git_server.bytes_sent - before < PACK / 2, "the transfer was cut short"
    assert err.value.reason == "RepositoryTooLarge"
    assert "download was stopped" in err.value.message
    assert disk_usage(tmp_path / "cache") < LIMIT + 1024 * 1024, "no partial pack kept"


def test_a_repository_within_the_limit_is_fetched_as_before(tmp_path, repo, git_server):
    (repo.work / "blob.bin").write_bytes(os.urandom(LIMIT // 4))
    sha = repo.commit({"app/a.yaml": "kind: ConfigMap\n"})
    source = GitSource(
        tmp_path / "cache",
        allowed_hosts=HostPolicy.parse(["127.0.0.1"]),
        max_tree_bytes=LIMIT,
        max_tree_files=FILES,
    )
    artifact = source.fetch(repo.url, GitRef(RefKind.BRANCH, "main"), sha, timeout=60)
    assert (artifact.path / "app" / "a.yaml").read_text() == "kind: ConfigMap\n"
