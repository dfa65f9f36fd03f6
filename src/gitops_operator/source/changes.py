"""Which paths changed between two commits, from the repository's local mirror: what a
monorepo's Applications compare with what their renders read."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

import git

from .refs import check_sha

log = logging.getLogger(__name__)

MAX_REMEMBERED = 256
"""(mirror, old, new) answers kept: every Application of a repository asks the same."""
MAX_CHANGED = 100_000
"""Paths listed at most; a larger change is "unknown" (everything is rendered)."""


class ChangedPaths:
    """``between(git_dir, old, new)``: the paths that differ, or None when the mirror
    lacks either commit (a fresh mirror, a trimmed one): the caller renders."""

    def __init__(self) -> None:
        self._answers: OrderedDict[tuple[str, str, str], frozenset[str] | None] = OrderedDict()
        self._lock = threading.Lock()

    def between(self, git_dir: Path, old: str, new: str) -> frozenset[str] | None:
        check_sha(old, where="old revision")
        check_sha(new, where="new revision")
        key = (str(git_dir), old, new)
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = _diff(git_dir, old, new)
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > MAX_REMEMBERED:
                self._answers.popitem(last=False)
        return answer


def _diff(git_dir: Path, old: str, new: str) -> frozenset[str] | None:
    if not (git_dir / "HEAD").exists():
        return None
    try:
        repo = git.Repo(git_dir)
        # both sides of a rename are listed: a file moved out of a path changes that path
        out = repo.git.diff("--no-renames", "--name-only", "-z", old, new, "--")
    except (git.GitCommandError, git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        log.debug("no diff %s..%s in %s: %s", old[:12], new[:12], git_dir.name, exc)
        return None
    paths = [p for p in str(out).split("\0") if p]
    if len(paths) > MAX_CHANGED:
        return None
    return frozenset(paths)
