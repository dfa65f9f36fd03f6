"""Which renderer a path takes when ``render.type`` is auto: a kustomization makes it
kustomize, a ``Chart.yaml`` helm, anything else a plain directory."""

from __future__ import annotations

from pathlib import Path

from ..api import RenderType
from .kustomize import KUSTOMIZATION_FILES


def detect(top: Path) -> RenderType:
    if any((top / name).is_file() for name in KUSTOMIZATION_FILES):
        return RenderType.KUSTOMIZE
    if (top / "Chart.yaml").is_file():
        return RenderType.HELM
    return RenderType.PLAIN
