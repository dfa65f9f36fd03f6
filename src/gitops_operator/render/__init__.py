"""Turn a checked-out revision into the list of objects to apply.

``render`` is the only entry point; it refuses paths and symlinks that leave the checkout
before reading anything, and refuses duplicate objects.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..api import RenderSpec, RenderType
from ..errors import RenderError
from ..objects import Manifest
from .paths import check_tree, resolve_inside
from .plain import render_plain

__all__ = ["render"]


def render(root: Path, path: str, spec: RenderSpec) -> list[Manifest]:
    """Render ``path`` of the checkout at ``root`` according to ``spec``."""
    top = resolve_inside(root, path, what="spec.path")
    if not top.is_dir():
        raise RenderError(
            f"spec.path {path!r} is not a directory in the repository", reason="PathNotFound"
        )
    check_tree(root, top)
    kind = _detect(top) if spec.type is RenderType.AUTO else spec.type
    if kind is not RenderType.PLAIN:
        raise RenderError(
            f"render type {kind.value!r} is not supported yet", reason="UnsupportedRenderer"
        )
    manifests = render_plain(root, top, spec.include, spec.exclude)
    _refuse_duplicates(manifests)
    return manifests


def _detect(top: Path) -> RenderType:
    if any(
        (top / name).is_file()
        for name in ("kustomization.yaml", "kustomization.yml", "Kustomization")
    ):
        return RenderType.KUSTOMIZE
    if (top / "Chart.yaml").is_file():
        return RenderType.HELM
    return RenderType.PLAIN


def _refuse_duplicates(manifests: list[Manifest]) -> None:
    counts = Counter(m.ref for m in manifests)
    duplicates = [ref for ref, n in counts.items() if n > 1]
    if duplicates:
        where = {str(m.source) for m in manifests if m.ref == duplicates[0]}
        raise RenderError(
            f"{duplicates[0]} is defined more than once ({', '.join(sorted(where))})",
            reason="DuplicateObject",
        )
