"""Path safety: nothing a repository names may resolve outside its checkout."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ..errors import RenderError


def resolve_inside(root: Path, relative: str, *, what: str) -> Path:
    """``root / relative``, refused if it is absolute, climbs with ``..``, or leaves
    ``root`` through a symlink."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise RenderError(
            f"{what} {relative!r} must be a relative path inside the repository",
            reason="PathOutsideRepository",
        )
    target = real_path(root, root / pure)
    if not _is_within(target, real_path(root, root)):
        raise RenderError(
            f"{what} {relative!r} leaves the repository through a symlink",
            reason="PathOutsideRepository",
        )
    return target


def resolve_from(root: Path, base: Path, relative: str, *, what: str) -> str:
    """``relative`` (which may use ``..``) taken from the directory ``base`` inside ``root``;
    returns the path relative to ``root`` (POSIX), refused if it is absolute or leaves
    ``root`` either as written or once symlinks are followed."""
    if not relative or PurePosixPath(relative).is_absolute() or relative.startswith("~"):
        raise RenderError(
            f"{what} {relative!r} must be a relative path inside the repository",
            reason="PathOutsideRepository",
        )
    real_root, real_base = real_path(root, root), real_path(root, base)
    written = Path(os.path.normpath(real_base / relative))
    if not _is_within(written, real_root):
        raise RenderError(
            f"{what} {relative!r} points outside the repository",
            reason="PathOutsideRepository",
        )
    # Both readings must stay inside: tools differ in whether ``link/..`` is lexical.
    followed = real_path(root, real_base / relative)
    if not _is_within(followed, real_root) or not _is_within(real_path(root, written), real_root):
        raise RenderError(
            f"{what} {relative!r} leaves the repository through a symlink",
            reason="PathOutsideRepository",
        )
    return written.relative_to(real_root).as_posix()


def check_tree(root: Path, top: Path) -> None:
    """Refuse any symlink a renderer can reach from ``top`` whose target is outside
    ``root``, or that loops. Directory symlinks that stay inside are followed: a chart's
    ``files -> ../shared`` makes ``shared/`` readable from the chart, so what ``shared/``
    links to is checked too."""
    real_root = real_path(root, root)
    pending, seen = [real_path(real_root, top)], set()
    while pending:
        directory = pending.pop()
        if directory in seen:
            continue
        seen.add(directory)
        for dirpath, dirnames, filenames in os.walk(directory):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                if not path.is_symlink():
                    continue
                target = real_path(real_root, path)
                if not _is_within(target, real_root):
                    raise RenderError(
                        f"symlink {_shown(real_root, path)!r} points outside the repository",
                        reason="PathOutsideRepository",
                    )
                if target.is_dir():
                    pending.append(target)


def real_path(root: Path, path: Path) -> Path:
    """``path`` with every symlink followed; a symlink loop is a ``RenderError`` that
    names the path inside the repository, never the cache directory."""
    try:
        return path.resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError before Python 3.13, then OSError
        raise RenderError(
            f"symlink loop at {_shown(root, path)!r} in the repository", reason="SymlinkLoop"
        ) from exc


def _shown(root: Path, path: Path) -> str:
    """``path`` relative to the checkout, for messages (never the cache directory)."""
    for base in (root, root.absolute()):
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.name


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
