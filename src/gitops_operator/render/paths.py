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
    real_root = root.resolve()
    if target != real_root and real_root not in target.parents:
        raise RenderError(
            f"{what} {relative!r} leaves the repository through a symlink",
            reason="PathOutsideRepository",
        )
    return target


def check_tree(root: Path, top: Path) -> None:
    """Refuse any symlink under ``top`` whose target is outside ``root``."""
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                target = path.resolve()
                if target != real_root and real_root not in target.parents:
                    rel = path.relative_to(root)
                    raise RenderError(
                        f"symlink {str(rel)!r} points outside the repository",
                        reason="PathOutsideRepository",
                    )
