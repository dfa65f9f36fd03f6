"""Turn a checked-out revision into the list of objects to apply.

``render`` is the only entry point; it refuses paths and symlinks that leave the checkout
before reading anything, and refuses duplicate objects. Plain directories are read here;
kustomize and helm run as pinned binaries on a private copy (``process``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api import RenderSpec, RenderType
from ..config import Settings
from ..errors import RenderError
from ..objects import Manifest
from .capabilities import Capabilities
from .chart_fetch import ChartFetchSettings, RepositoryCredentials
from .detect import detect
from .helm import render_helm
from .kustomize import render_kustomize
from .paths import check_tree, resolve_inside
from .plain import render_plain

__all__ = ["Capabilities", "RenderTools", "RepositoryCredentials", "render"]

MAX_ALIAS_EXPANSION = 1_000_000
"""Nodes YAML aliases may add to a render; a "billion laughs" document adds billions."""


@dataclass(frozen=True, slots=True)
class RenderTools:
    """The binaries that render kustomize and helm paths, how long one render may take,
    and where and how chart dependencies may be downloaded."""

    kustomize: str
    helm: str
    timeout: float
    charts: ChartFetchSettings = field(default_factory=ChartFetchSettings)

    @classmethod
    def from_settings(cls, settings: Settings) -> RenderTools:
        charts = ChartFetchSettings(
            allowed_hosts=settings.chart_repository_hosts,
            cache_dir=settings.cache_dir / "charts",
            max_chart_bytes=settings.max_chart_bytes,
            timeout=settings.chart_timeout,
        )
        return cls(settings.kustomize_binary, settings.helm_binary, settings.render_timeout, charts)


def render(
    root: Path,
    path: str,
    spec: RenderSpec,
    *,
    tools: RenderTools,
    release_name: str,
    namespace: str,
    capabilities: Capabilities | None = None,
    credentials: Mapping[str, RepositoryCredentials] | None = None,
) -> list[Manifest]:
    """Render ``path`` of the checkout at ``root`` according to ``spec``. ``release_name``
    (unless ``spec.helm`` names one) and ``namespace`` are helm's release name and namespace,
    ``capabilities`` the destination cluster's (helm's defaults if None) and
    ``credentials`` those of ``spec.helm.repositories``, by URL."""
    top = resolve_inside(root, path, what="spec.path")
    if not top.is_dir():
        raise RenderError(
            f"spec.path {path!r} is not a directory in the repository", reason="PathNotFound"
        )
    check_tree(root, top)
    kind = detect(top) if spec.type is RenderType.AUTO else spec.type
    _refuse_options_of_other_types(spec, kind)
    if kind is RenderType.KUSTOMIZE:
        manifests = render_kustomize(root, top, binary=tools.kustomize, timeout=tools.timeout)
    elif kind is RenderType.HELM:
        manifests = render_helm(
            root,
            top,
            spec.helm,
            binary=tools.helm,
            timeout=tools.timeout,
            release_name=spec.helm.release_name or release_name,
            namespace=namespace,
            capabilities=capabilities,
            charts=tools.charts,
            credentials=credentials,
        )
    else:
        manifests = render_plain(root, top, spec.include, spec.exclude)
    _refuse_alias_bombs(manifests)
    _refuse_duplicates(manifests)
    return manifests


def _refuse_options_of_other_types(spec: RenderSpec, kind: RenderType) -> None:
    """Options that would be silently ignored are errors (e.g. after auto-detection changed)."""
    if kind is not RenderType.PLAIN and (spec.include or spec.exclude):
        raise RenderError(
            f"render.include and render.exclude apply to plain directories; this path"
            f" renders with {kind.value}",
            reason="UnsupportedRenderOption",
        )
    helm = spec.helm
    if kind is not RenderType.HELM and (
        helm.values
        or helm.value_files
        or helm.kube_version
        or helm.api_versions
        or helm.repositories
    ):
        raise RenderError(
            f"render.helm values, kubeVersion, apiVersions and repositories apply to Helm"
            f" charts; this path renders with {kind.value}",
            reason="UnsupportedRenderOption",
        )


def _refuse_alias_bombs(manifests: list[Manifest]) -> None:
    """PyYAML shares aliased nodes, so loading is cheap but every later walk (diff, JSON,
    apply) expands them: count the nodes aliases add and stop early."""
    seen: set[int] = set()
    added = 0
    stack: list[Any] = [m.obj for m in manifests]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            children = [*node.values()]
        elif isinstance(node, list):
            children = node
        else:
            continue
        if id(node) in seen:
            added += 1 + len(children)
            if added > MAX_ALIAS_EXPANSION:
                raise RenderError(
                    f"YAML aliases expand the rendered objects by more than"
                    f" {MAX_ALIAS_EXPANSION} nodes",
                    reason="ManifestTooLarge",
                )
        seen.add(id(node))
        stack.extend(children)


def _refuse_duplicates(manifests: list[Manifest]) -> None:
    counts = Counter(m.ref for m in manifests)
    duplicates = [ref for ref, n in counts.items() if n > 1]
    if duplicates:
        where = {str(m.source) for m in manifests if m.ref == duplicates[0]}
        raise RenderError(
            f"{duplicates[0]} is defined more than once ({', '.join(sorted(where))})",
            reason="DuplicateObject",
        )
