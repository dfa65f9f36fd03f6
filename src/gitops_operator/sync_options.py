"""What an object's Argo CD annotations ask of a sync, and refusing what cannot be done.

``argocd.argoproj.io/sync-options`` (comma-separated ``Key=Value``): ``Prune=false`` is
honoured (the object is never pruned: left in place and disowned); ``ServerSideApply=true``,
``PruneLast=true`` and ``SkipDryRunOnMissingResource=true`` ask for what this operator
always does. Every other option refuses the revision before any write, with a message
saying why (``Replace=true``: objects are patched by server-side apply, never replaced).
``argocd.argoproj.io/compare-options``: ``IgnoreExtraneous`` and ``ServerSideDiff=true``
are what this operator always does (it compares only the objects it applied, by
server-side dry-run); others are refused.

Hook annotations are read by ``hooks``: a hook is run in its phase, not applied as an
ordinary object; ``argocd.argoproj.io/hook: Skip`` leaves the object out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .api import (
    ARGO_COMPARE_OPTIONS_ANNOTATION,
    ARGO_SYNC_OPTIONS_ANNOTATION,
    PRUNE_ANNOTATION,
)
from .errors import SyncAnnotationError
from .objects import Manifest

ACCEPTED_SYNC_OPTIONS = frozenset(
    {"Prune=false", "ServerSideApply=true", "PruneLast=true", "SkipDryRunOnMissingResource=true"}
)
ACCEPTED_COMPARE_OPTIONS = frozenset({"IgnoreExtraneous", "ServerSideDiff=true"})
REFUSED_SYNC_OPTIONS = {
    "Replace=true": "objects are patched by server-side apply, never replaced (deleted and"
    " created again); remove the option",
    "Force=true": "objects are never deleted and created again; remove the option",
    "ServerSideApply=false": "every object is applied by server-side apply",
    "Validate=false": "every object passes a server-side dry-run before the first write",
    "Prune=confirm": "prunes are not confirmed by hand; use Prune=false to keep the object",
    "Delete=false": "objects are kept or deleted with their Application as a whole"
    " (spec.deletionPolicy: Orphan); use Prune=false to keep it when it leaves the repository",
    "Delete=confirm": "deletions are not confirmed by hand (spec.deletionPolicy: Orphan)",
}
_MAX_LISTED = 5


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def options(annotations: Mapping[str, Any], key: str) -> list[str]:
    """The comma-separated options of annotation ``key``, trimmed, empty ones dropped."""
    return [o.strip() for o in str(annotations.get(key, "")).split(",") if o.strip()]


def prune_disabled(obj: Mapping[str, Any]) -> bool:
    """Whether a live object must be left in place rather than pruned:
    ``gitops-operator.dev/prune: disabled`` or Argo CD's ``Prune=false``."""
    annotations = _annotations(obj)
    return annotations.get(PRUNE_ANNOTATION) == "disabled" or "Prune=false" in options(
        annotations, ARGO_SYNC_OPTIONS_ANNOTATION
    )


def objection(obj: Mapping[str, Any]) -> str | None:
    """Why the object's annotations cannot be honoured, or None."""
    annotations = _annotations(obj)
    for option in options(annotations, ARGO_SYNC_OPTIONS_ANNOTATION):
        if option not in ACCEPTED_SYNC_OPTIONS:
            why = REFUSED_SYNC_OPTIONS.get(option, "unknown sync option")
            return f"{ARGO_SYNC_OPTIONS_ANNOTATION} {option[:40]!r}: {why}"
    for option in options(annotations, ARGO_COMPARE_OPTIONS_ANNOTATION):
        if option not in ACCEPTED_COMPARE_OPTIONS:
            return f"{ARGO_COMPARE_OPTIONS_ANNOTATION} {option[:40]!r}: unknown compare option"
    return None


def check_sync_annotations(manifests: Iterable[Manifest]) -> list[Manifest]:
    """The manifests, unchanged. Raises one ``SyncAnnotationError`` (reason
    UnsupportedSyncOption) naming every object whose options cannot be honoured."""
    kept: list[Manifest] = []
    refused: list[tuple[Manifest, str]] = []
    for m in manifests:
        why = objection(m.obj)
        if why is None:
            kept.append(m)
        else:
            refused.append((m, why))
    if not refused:
        return kept
    lines = [f"{m.ref} ({m.source}): {why}" for m, why in refused[:_MAX_LISTED]]
    more = f"; and {len(refused) - _MAX_LISTED} more" if len(refused) > _MAX_LISTED else ""
    raise SyncAnnotationError(
        "nothing applied; " + "; ".join(lines) + more,
        reason="UnsupportedSyncOption",
    )
