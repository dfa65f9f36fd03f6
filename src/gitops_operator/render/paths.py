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
    target = (root / pure).resolve()
    if not _is_within(target, root.resolve()):
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
    real_root, real_base = root.resolve(), base.resolve()
    written = Path(os.path.normpath(real_base / relative))
    if not _is_within(written, real_root):
        raise RenderError(
            f"{what} {relative!r} points outside the repository",
            reason="PathOutsideRepository",
        )
    # Both readings must stay inside: tools differ in whether ``link/..`` is lexical.
    followed = (real_base / relative).resolve()
    if not _is_within(followed, real_root) or not _is_within(written.resolve(), real_root):
        raise RenderError(
            f"{what} {relative!r} leaves the repository through a symlink",
            reason="PathOutsideRepository",
        )
    return written.relative_to(real_root).as_posix()


def check_tree(root: Path, top: Path) -> None:
    """Refuse any symlink under ``top`` whose target is outside ``root``."""
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink() and not _is_within(path.resolve(), real_root):
                rel = path.relative_to(root)
                raise RenderError(
                    f"symlink {str(rel)!r} points outside the repository",
                    reason="PathOutsideRepository",
                )


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
