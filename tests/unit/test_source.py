"""The Git source against real git on local repositories (no network)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gitops_operator.api import GitRef, RefKind, parse_ref
from gitops_operator.errors import SourceError, StalledError
from gitops_operator.source import GitSource
from gitops_operator.source.cache import ArtifactCache
from gitops_operator.source.hosts import HostPolicy
from gitops_operator.source.refs import default_branch, parse_ls_remote, select, tag_object

SHA = "0123456789abcdef0123456789abcdef01234567"


def run_git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def bare(tmp_path: Path) -> tuple[Path, str]:
    """A bare repository with one commit, and that commit's SHA."""
    work = tmp_path / "work"
    work.mkdir()
    run_git(work, "init", "-q", "-b", "main")
    (work / "a.yaml").write_text("kind: ConfigMap\n")
    run_git(work, "add", ".")
    run_git(work, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "one")
    bare = tmp_path / "bare.git"
    run_git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare, run_git(work, "rev-parse", "HEAD")


@pytest.mark.parametrize("sha", ["../../../../../../../../../etc", "", "ABC", SHA[:39], SHA + "0"])
def test_artifact_refuses_what_is_not_a_sha(tmp_path: Path, sha: str) -> None:
    with pytest.raises(StalledError) as err:
        GitSource(tmp_path / "cache").artifact("https://example.com/r.git", sha)
    assert err.value.reason == "InvalidRevision"


def test_a_sha_that_is_an_option_never_reaches_git(tmp_path: Path, bare: tuple[Path, str]) -> None:
    marker = tmp_path / "upload-pack-ran"
    sha = f"--upload-pack=touch {marker}"
    source = GitSource(tmp_path / "cache", allow_local=True)
    with pytest.raises(StalledError) as err:
        source.fetch(f"file://{bare[0]}", GitRef(RefKind.COMMIT, sha), sha, timeout=30)
    assert err.value.reason == "InvalidRevision"
    assert not marker.exists()


def test_fetch_by_sha_then_serve_from_the_cache(tmp_path: Path, bare: tuple[Path, str]) -> None:
    path, sha = bare
    source = GitSource(tmp_path / "cache", allow_local=True)
    artifact = source.fetch(f"file://{path}", GitRef(RefKind.COMMIT, sha), sha, timeout=30)
    assert (artifact.path / "a.yaml").read_text() == "kind: ConfigMap\n"
    assert artifact.message == "one"


def test_ls_remote_lines_without_a_sha_are_ignored() -> None:
    output = f"{SHA}\trefs/heads/main\n../../etc\trefs/heads/evil\n--upload-pack=x\trefs/tags/v1\n"
    assert parse_ls_remote(output) == {"refs/heads/main": SHA}


def test_an_annotated_tag_resolves_to_its_commit_and_keeps_its_tag_object() -> None:
    tag, commit = "1" * 40, "2" * 40
    output = f"{tag}\trefs/tags/v1.0.0\n{commit}\trefs/tags/v1.0.0^{{}}\n{SHA}\trefs/tags/v2.0.0\n"
    refs = parse_ls_remote(output)
    for ref, sha, obj in [("v1.0.0", commit, tag), ("v2.0.0", SHA, None)]:
        concrete, resolved = select(GitRef(RefKind.TAG, ref), refs, "https://e.com/r.git")
        assert (resolved, tag_object(concrete, refs)) == (sha, obj)
    concrete, resolved = select(GitRef(RefKind.SEMVER, ">=1"), refs, "https://e.com/r.git")
    assert concrete.value == "v2.0.0"  # the tag objects are not tags of their own


def test_an_artifact_is_served_only_to_the_url_and_secret_that_fetched_it(
    tmp_path: Path, bare: tuple[Path, str]
) -> None:
    path, sha = bare
    url = f"file://{path}"
    source = GitSource(tmp_path / "cache", allow_local=True)
    source.fetch(url, GitRef(RefKind.COMMIT, sha), sha, timeout=30, scope="team-a/git-auth")
    assert source.artifact(url, sha, scope="team-a/git-auth") is not None
    assert source.artifact(f"FILE://{path}/", sha, scope="team-a/git-auth") is not None
    assert source.artifact(url, sha) is None, "the same URL without the Secret"
    assert source.artifact(url, sha, scope="team-b/git-auth") is None
    assert source.artifact("http://127.0.0.1:9/other.git", sha, scope="team-a/git-auth") is None


def test_a_known_sha_with_an_unreachable_url_must_be_fetched(
    tmp_path: Path, bare: tuple[Path, str]
) -> None:
    path, sha = bare
    source = GitSource(
        tmp_path / "cache", allow_local=True, allowed_hosts=HostPolicy.parse(["127.0.0.1"])
    )
    source.fetch(f"file://{path}", GitRef(RefKind.COMMIT, sha), sha, timeout=30)
    with pytest.raises(SourceError):
        source.fetch(
            "http://127.0.0.1:9/elsewhere.git", GitRef(RefKind.COMMIT, sha), sha, timeout=10
        )


def test_a_tree_over_the_limits_is_refused_before_it_is_written(
    tmp_path: Path, bare: tuple[Path, str]
) -> None:
    path, sha = bare
    cases: tuple[dict[str, Any], ...] = ({"max_tree_files": 0}, {"max_tree_bytes": 4})
    for limits in cases:
        source = GitSource(tmp_path / f"cache-{len(limits)}", allow_local=True, **limits)
        with pytest.raises(StalledError) as err:
            source.fetch(f"file://{path}", GitRef(RefKind.COMMIT, sha), sha, timeout=30)
        assert err.value.reason == "RepositoryTooLarge"
        assert not list((source.cache_dir / "artifacts").glob("*/*")), "nothing extracted"


def stored(cache: ArtifactCache, tmp_path: Path, name: str, *, message: str = "") -> Path:
    """A tree of 100 bytes stored as the artifact of the SHA ``name * 40``: its info file."""
    tree = tmp_path / f"tree-{name}"
    tree.mkdir()
    sha = name * 40
    cache.store("https://h/r", "", sha, tree, message=message, author="", size=100)
    return cache.directory("https://h/r", "", sha).with_suffix(".json")


def test_least_recently_used_artifacts_are_evicted(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "artifacts", max_bytes=250)
    old = time.time() - 3600

    def stored_long_ago(name: str) -> Path:
        info = stored(cache, tmp_path, name)
        os.utime(info, (old, old))
        return info.with_suffix("")

    first, second = stored_long_ago("a"), stored_long_ago("b")
    assert cache.get("https://h/r", "", "a" * 40) is not None  # used again: now the newest
    os.utime(first.with_suffix(".json"), (old + 10, old + 10))
    third = stored_long_ago("c")
    assert not second.exists() and first.exists() and third.exists()
    assert cache.get("https://h/r", "", "b" * 40) is None


def test_an_artifact_in_use_is_not_evicted(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "artifacts", max_bytes=10)
    for name in "ab":
        stored(cache, tmp_path, name)
    assert cache.get("https://h/r", "", "a" * 40) is not None


def test_an_artifact_found_is_served_from_memory_until_it_is_evicted(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "artifacts", max_bytes=150)
    old = time.time() - 3600
    info = stored(cache, tmp_path, "a", message="m")
    found = cache.get("https://h/r", "", "a" * 40)
    assert found is not None and found.message == "m"
    os.utime(info, (old, old))
    assert cache.get("https://h/r", "", "a" * 40) == found
    assert info.stat().st_mtime == old, "the disk was not looked at again"
    stored(cache, tmp_path, "b")  # over the bound: "a", last used an hour ago, goes
    assert not info.exists()
    assert cache.get("https://h/r", "", "a" * 40) is None


def test_a_mirror_grown_past_the_tree_bound_is_removed(
    tmp_path: Path, bare: tuple[Path, str]
) -> None:
    path, sha = bare
    source = GitSource(tmp_path / "cache", allow_local=True, max_tree_bytes=1)
    with pytest.raises(StalledError):  # the tree itself is over the bound too
        source.fetch(f"file://{path}", GitRef(RefKind.COMMIT, sha), sha, timeout=30)
    assert not list((tmp_path / "cache" / "repos").iterdir())


def test_no_ref_follows_the_remotes_default_branch(tmp_path: Path) -> None:
    """A repository whose default branch is master syncs without spec.ref, as with
    ``git clone`` and Argo CD's HEAD; the revision names the branch."""
    work = tmp_path / "work"
    work.mkdir()
    run_git(work, "init", "-q", "-b", "master")
    (work / "a.yaml").write_text("kind: ConfigMap\n")
    run_git(work, "add", ".")
    run_git(work, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "one")
    run_git(work, "branch", "-q", "other")
    bare = tmp_path / "bare.git"
    run_git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    source = GitSource(tmp_path / "cache", allow_local=True)
    concrete, sha = source.resolve(f"file://{bare}", parse_ref({}), timeout=30)
    assert concrete == GitRef(RefKind.BRANCH, "master")
    assert sha == run_git(work, "rev-parse", "HEAD")
    artifact = source.fetch(f"file://{bare}", concrete, sha, timeout=30)
    assert (artifact.path / "a.yaml").exists()


def test_a_symref_line_names_the_default_branch() -> None:
    output = f"ref: refs/heads/trunk\tHEAD\n{SHA}\tHEAD\n"
    assert default_branch(output) == "trunk"
    assert default_branch(f"ref: refs/heads/--evil\tHEAD\n{SHA}\tHEAD\n") is None
    assert default_branch(f"{SHA}\tHEAD\n") is None


def crafted_commit(repo: Path, entries: list[tuple[str, str, str]]) -> str:
    """A commit of a tree written byte by byte (``hash-object --literally``): entries of
    (mode, name, content) that ``git add`` would never make, such as a name of ``..``."""
    body = b""
    for mode, name, content in entries:
        blob = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=repo,
            input=content.encode(),
            check=True,
            capture_output=True,
        ).stdout.strip()
        body += f"{mode} {name}\0".encode() + bytes.fromhex(blob.decode())
    tree = subprocess.run(
        ["git", "hash-object", "-w", "-t", "tree", "--literally", "--stdin"],
        cwd=repo,
        input=body,
        check=True,
        capture_output=True,
    ).stdout.strip()
    return run_git(
        repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit-tree", tree.decode(), "-m", "x"
    )


@pytest.mark.parametrize("name", ["..", ".git", "."])
def test_a_tree_naming_a_path_outside_the_checkout_is_refused(
    tmp_path: Path, bare: tuple[Path, str], name: str
) -> None:
    path, _ = bare
    sha = crafted_commit(path, [("100644", name, "kind: ConfigMap\n")])
    source = GitSource(tmp_path / "cache", allow_local=True)
    with pytest.raises(StalledError) as err:
        source.fetch(f"file://{path}", GitRef(RefKind.COMMIT, sha), sha, timeout=30)
    assert err.value.reason == "PathOutsideRepository"
    assert not list((source.cache_dir / "artifacts").glob("*/*")), "nothing published"


def test_the_checkout_keeps_links_modes_and_runs_no_filter(
    tmp_path: Path, bare: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = bare
    work = tmp_path / "work"
    (work / "apps" / "a").mkdir(parents=True)
    (work / "apps" / "a" / "run.sh").write_text("#!/bin/sh\n")
    (work / "apps" / "a" / "run.sh").chmod(0o755)
    (work / "apps" / "link").symlink_to("/etc/passwd")
    (work / ".gitattributes").write_text("*.yaml filter=shout\n")
    run_git(work, "add", ".")
    run_git(work, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "two")
    run_git(work, "push", "-q", str(path), "main")
    sha = run_git(work, "rev-parse", "HEAD")
    # a user's git configuration with a filter driver must not run on the operator's checkout
    home = tmp_path / "home"
    home.mkdir()
    marker = tmp_path / "filter-ran"
    (home / ".gitconfig").write_text(f'[filter "shout"]\n\tsmudge = touch {marker}; cat\n')
    monkeypatch.setenv("HOME", str(home))
    source = GitSource(tmp_path / "cache", allow_local=True)
    artifact = source.fetch(f"file://{path}", GitRef(RefKind.COMMIT, sha), sha, timeout=30)
    assert (artifact.path / "a.yaml").read_text() == "kind: ConfigMap\n"
    assert os.access(artifact.path / "apps" / "a" / "run.sh", os.X_OK)
    assert os.readlink(artifact.path / "apps" / "link") == "/etc/passwd"  # render refuses it
    assert not marker.exists()
