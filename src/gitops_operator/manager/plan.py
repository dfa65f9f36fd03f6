"""Plan: what applying a set of objects would change, by a server-side-apply dry run of
each one against its live state, without writing anything (a pull request's preview).

Each object is dry-run as a sync dry-runs it (with the fields the Application ignores
adopted from the live object), so what the API server would refuse is refused here too.
Objects whose kind or Namespace comes from a CRD or Namespace of the same set cannot be
dry-run before that first stage exists: they are listed as added, not validated. Secret
values are masked in everything a plan returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..api import PRUNE_ANNOTATION, IgnoreRule
from ..diff import adopt_ignored, changes_between, ignores_for, mask_secret, mask_secret_pair
from ..diff import normalize as normalized
from ..errors import ApiError, NotFoundError
from ..objects import Manifest, ObjectRef, apply_order_key, apply_stage, sort_for_apply
from ..render_diff import Change, ObjectDiff
from .apply import needs_first_stage
from .workers import Workers

_MAX_LISTED_REFUSALS = 5


@dataclass(frozen=True, slots=True)
class Plan:
    """What applying would change, and what the API server refused."""

    diffs: tuple[ObjectDiff, ...]
    refused: tuple[str, ...] = ()
    """One line per object the dry run refused (the first few), then how many more."""
    deferred: tuple[ObjectRef, ...] = ()
    """Added objects not validated: their Namespace or kind comes from the same set."""
    refusals: int = 0
    """How many objects the dry run refused (``refused`` lists the first few)."""


def plan_all(
    workers: Workers,
    manifests: list[Manifest],
    ignore: tuple[IgnoreRule, ...] = (),
    stale: Mapping[ObjectRef, str] | None = None,
) -> Plan:
    """Dry-run every manifest; the objects that would be added or changed, and the live
    objects of ``stale`` (inventoried, no longer rendered: ref -> apiVersion) that a
    prune would remove. A transient API error is raised, never reported as a refusal."""
    ordered = sort_for_apply(manifests)
    first = [m for m in ordered if apply_stage(m.ref) == 0]
    deferred = needs_first_stage(workers.kube, first, [m for m in ordered if m not in first])
    checked = [m for m in ordered if m.ref not in deferred]
    seen = workers.read((m.ref, m.api_version) for m in checked)

    def dry_run(m: Manifest) -> ObjectDiff | ApiError | NotFoundError | None:
        live = seen[m.ref]
        if isinstance(live, ApiError | NotFoundError):
            return live
        try:
            body = adopt_ignored(m.obj, live, *ignores_for(ignore, m.ref))
            result = workers.kube.apply(body, dry_run=True)
        except (ApiError, NotFoundError) as exc:
            return exc
        if live is None:
            return _added(m)
        before, after = mask_secret_pair(normalized(live), normalized(result))
        fields = tuple(changes_between(after, before))
        if not fields:
            return None
        return ObjectDiff(m.ref, m.api_version, Change.CHANGED, fields, after)

    results = workers.map(dry_run, checked)
    transient = next((r for r in results if isinstance(r, ApiError) and r.transient), None)
    if transient is not None:
        raise transient
    lines = [
        f"{m.ref} ({m.source}): {_reason(r)}: {r}"
        for m, r in zip(checked, results, strict=True)
        if isinstance(r, ApiError | NotFoundError)
    ]
    listed = lines[:_MAX_LISTED_REFUSALS]
    if len(lines) > len(listed):
        listed.append(f"and {len(lines) - len(listed)} more")
    diffs = [r for r in results if isinstance(r, ObjectDiff)]
    diffs += [_added(m) for m in ordered if m.ref in deferred]
    diffs += _removed(workers, stale or {})
    diffs.sort(key=lambda d: apply_order_key(d.ref))
    later = tuple(sorted(deferred, key=apply_order_key))
    return Plan(tuple(diffs), tuple(listed), later, len(lines))


def _added(m: Manifest) -> ObjectDiff:
    return ObjectDiff(m.ref, m.api_version, Change.ADDED, (), mask_secret(normalized(m.obj)))


def _removed(workers: Workers, stale: Mapping[ObjectRef, str]) -> list[ObjectDiff]:
    """The stale objects that exist and that a prune would delete (not those marked
    ``prune: disabled``); one that cannot be read is left out, as a prune would skip it."""
    live = workers.read(stale.items())
    removed = []
    for ref, version in stale.items():
        obj = live.get(ref)
        if not isinstance(obj, dict):
            continue
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if annotations.get(PRUNE_ANNOTATION) == "disabled":
            continue
        removed.append(ObjectDiff(ref, version, Change.REMOVED, (), mask_secret(normalized(obj))))
    return removed


def _reason(exc: ApiError | NotFoundError) -> str:
    return exc.api_reason if isinstance(exc, ApiError) else exc.reason
