"""A local repository as the operator would see it: a commit's tree, or the working
tree once committed.

``gitops-operator render`` reads a directory on disk; this gives it the files Git would
commit there (no ``.venv``, build output or other ignored files), copied aside so the
renderer never reads outside them. ``gitops-operator diff --base`` reads commits the same
way, without touching the working tree or the index.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git

from ..errors import RenderError, SourceError


def repository_root(path: Path) -> Path:
    """The nearest directory at or above ``path`` that holds ``.git``; else ``path``."""
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return path


@contextmanager
def committed_view(root: Path) -> Iterator[Path]:
    """The files of the working tree that Git would commit (tracked, plus untracked ones
    not ignored), copied aside: what the operator would render after a commit, without
    ``.venv``, build output or other ignored files. Outside a repository: ``root``."""
    if not (root / ".git").exists():
        yield root
        return
    try:
        listing = git.Repo(root).git.ls_files("-z", "--cached", "--others", "--exclude-standard")
    except (git.GitError, OSError) as exc:
        raise RenderError(f"{root}: cannot list the repository's files: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="gitops-render-view-") as tmp:
        view = Path(tmp) / root.name
        view.mkdir()
        for rel in sorted(set(filter(None, str(listing).split("\0")))):
            src, dest = root / rel, view / rel
            if not (src.is_symlink() or src.is_file()):
                continue  # deleted but still in the index, or a submodule
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.is_symlink():
                dest.symlink_to(os.readlink(src))
            else:
                shutil.copy2(src, dest)
        yield view


@contextmanager
def commit_tree(root: Path, revision: str) -> Iterator[tuple[Path, str]]:
    """The tree of ``revision`` (any name ``git rev-parse`` takes) of the repository at
    ``root``, written to a temporary directory, and the commit's SHA. The working tree,
    the index and ``HEAD`` are left as they are."""
    try:
        repo = git.Repo(root)
        sha = str(repo.git.rev_parse("--verify", "--end-of-options", f"{revision}^{{commit}}"))
    except (git.GitError, OSError) as exc:
        raise SourceError(f"{revision!r} is not a commit of {root}") from exc
    with tempfile.TemporaryDirectory(prefix="gitops-commit-tree-") as tmp:
        archive, tree = Path(tmp) / "tree.tar", Path(tmp) / root.name
        try:
            with archive.open("wb") as out:
                repo.archive(out, treeish=sha, format="tar")
            with tarfile.open(archive) as tar:
                # Links are kept as they are; render refuses any that leave the checkout.
                tar.extractall(tree, filter="tar")
        except (git.GitError, tarfile.TarError) as exc:
            raise SourceError(f"{revision} ({sha[:12]}): cannot read its tree: {exc}") from exc
        archive.unlink()
        tree.mkdir(exist_ok=True)  # an empty commit has no entries
        yield tree, sha
