"""A local working tree as the operator would see it once committed.

``gitops-operator render`` reads a directory on disk; this gives it the files Git would
commit there (no ``.venv``, build output or other ignored files), copied aside so the
renderer never reads outside them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git

from ..errors import RenderError


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
