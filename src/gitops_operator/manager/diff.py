"""Drift: dry-run the desired objects and report those whose live state differs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..api import IgnoreRule
from ..diff import FieldChange, adopt_ignored, differs, field_changes, ignores_for
from ..live import Live
from ..objects import KubeObject, Manifest, ObjectRef
from .in_sync import digest
from .workers import Workers


@dataclass(frozen=True, slots=True)
class Drift:
    """One object whose live state differs from the desired one (or that is missing)."""

    ref: ObjectRef
    changes: tuple[FieldChange, ...]
    missing: bool = False


def diff_all(
    workers: Workers,
    manifests: list[Manifest],
    ignore: tuple[IgnoreRule, ...] = (),
    live: Mapping[ObjectRef, Live] | None = None,
) -> list[Drift]:
    """Dry-run every manifest and report the objects whose live state differs.

    ``live`` may hold objects already read (by ``Workers.read``) in this pass."""
    seen = _live_for(workers, manifests, live or {})

    drifts: list[Drift | None] = []
    to_dry_run: list[tuple[Manifest, KubeObject, str]] = []
    for m in manifests:  # on this thread: most objects are known in sync, a pure check
        current = seen[m.ref]
        if isinstance(current, Exception):
            raise current
        if current is None:
            drifts.append(Drift(m.ref, (), missing=True))
            continue
        wanted = digest(m, ignore)
        if not workers.in_sync.holds(m.ref, wanted, current):
            to_dry_run.append((m, current, wanted))

    def check(item: tuple[Manifest, KubeObject, str]) -> Drift | None:
        m, current, wanted = item
        body = adopt_ignored(m.obj, current, *ignores_for(ignore, m.ref))
        result = workers.kube.apply(body, dry_run=True)
        if not differs(result, current):
            workers.in_sync.remember(m.ref, wanted, current)
            return None
        changes = field_changes(result, current)
        return Drift(m.ref, tuple(changes)) if changes else None

    if to_dry_run:
        drifts += workers.map(check, to_dry_run)
    order = {m.ref: i for i, m in enumerate(manifests)}
    return sorted((d for d in drifts if d is not None), key=lambda d: order[d.ref])


def _live_for(
    workers: Workers, manifests: list[Manifest], live: Mapping[ObjectRef, Live]
) -> dict[ObjectRef, Live]:
    """``live`` for the manifests it holds in their apiVersion; the rest read now."""
    known = {
        m.ref: live[m.ref]
        for m in manifests
        if m.ref in live and _same_version(live[m.ref], m.api_version)
    }
    missing = [(m.ref, m.api_version) for m in manifests if m.ref not in known]
    return {**known, **workers.read(missing)} if missing else known


def _same_version(live: Live, api_version: str) -> bool:
    return not isinstance(live, dict) or live.get("apiVersion") == api_version
