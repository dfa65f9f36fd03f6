"""Apply: dry-run every object (validation before mutation), then write in two stages.

CRDs and Namespaces go first; objects whose kind or namespace comes from them are
dry-run right after that stage is applied, the rest before any write. Unchanged objects
are not written; objects of one kind are written concurrently, kind after kind.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from ..api import IgnoreRule
from ..diff import adopt_ignored, differs, ignores_for
from ..errors import ApiError, ApplyError, DryRunError, NotFoundError, PrerequisiteMissingError
from ..kube import KubeClient
from ..objects import (
    KubeObject,
    Manifest,
    ObjectRef,
    apply_order_key,
    apply_stage,
    group_of,
    sort_for_apply,
)
from .changeset import Action, ChangeSet, ChangeSetEntry
from .in_sync import digest, version_of
from .wait import wait_first_stage
from .workers import Workers

_MAX_LISTED_ERRORS = 3
PREREQUISITE_RETRY = 30.0
"""Seconds between tries of a revision whose Namespace or kind does not exist yet."""


@dataclass(frozen=True, slots=True)
class _Planned:
    manifest: Manifest
    body: KubeObject  # what is applied: the manifest with ignored fields adopted
    action: Action
    digest: str


def set_namespaces(
    kube: KubeClient, manifests: list[Manifest], default_namespace: str
) -> list[Manifest]:
    """Give namespaced objects ``default_namespace`` when they have none; strip it from
    cluster-scoped ones. Kinds defined by CRDs in the same set are understood."""
    crd_scopes = _crd_scopes(manifests)
    result = []
    for m in manifests:
        ref = m.ref
        scoped = crd_scopes.get((ref.group, ref.kind))
        if scoped is None:
            try:
                scoped = kube.is_namespaced(m.api_version, ref.kind)
            except NotFoundError as exc:
                raise PrerequisiteMissingError(
                    f"nothing applied; {ref} ({m.source}): {exc}; tried again every"
                    f" {PREREQUISITE_RETRY:.0f}s",
                    reason="KindNotFound",
                    requeue_after=PREREQUISITE_RETRY,
                ) from exc
        meta = dict(m.obj.get("metadata") or {})
        if scoped and not meta.get("namespace"):
            meta["namespace"] = default_namespace
        elif not scoped:
            meta.pop("namespace", None)
        result.append(Manifest({**m.obj, "metadata": meta}, m.source))
    return result


def apply_all(
    workers: Workers,
    manifests: list[Manifest],
    *,
    before_write: Callable[[], None],
    ignore: tuple[IgnoreRule, ...] = (),
    hold: Collection[ObjectRef] = (),
    written_before: str = "",
    new: Collection[ObjectRef] = (),
    seen: dict[ObjectRef, KubeObject] | None = None,
) -> ChangeSet:
    """Validate and apply ``manifests`` in two stages; return what changed.

    ``before_write`` runs once after validation and before the first real write (the
    caller records the inventory there). Unchanged objects are not written, nor are the
    objects of ``hold`` (later sync waves: validated with the rest, written later; CRDs
    and Namespaces are never held). ``written_before`` says what an earlier pass of the
    same revision wrote: a refusal then is partial, never a missing prerequisite.

    The objects of ``new`` (not in the caller's inventory: probably not there yet) are
    dry-run without being read first, and read only when the dry-run shows they exist.
    ``seen``, when given, receives every object as the last request left it (the apply's
    answer, or what was read): enough to assess health right after the apply.
    """
    ordered = sort_for_apply(manifests)
    first = [m for m in ordered if apply_stage(m.ref) == 0]
    rest = [m for m in ordered if apply_stage(m.ref) == 1]
    deferred = needs_first_stage(workers.kube, first, rest)
    seen = {} if seen is None else seen
    plan = _plan(
        workers,
        first + [m for m in rest if m.ref not in deferred],
        ignore,
        written_before=written_before,
        new=new,
        seen=seen,
    )
    before_write()
    changes = _write(workers, [p for p in plan if apply_stage(p.manifest.ref) == 0], seen)
    if first:
        wait_first_stage(workers.kube, first)
        workers.kube.refresh_discovery()
    later = _plan(
        workers,
        [m for m in rest if m.ref in deferred],
        ignore,
        written_before=written_before or ("only CRDs and Namespaces" if first else ""),
        new=new,
        seen=seen,
    )
    planned_rest = [p for p in plan + later if apply_stage(p.manifest.ref) == 1]
    return changes + _write(
        workers, _sort_plan([p for p in planned_rest if p.manifest.ref not in hold]), seen
    )


def needs_first_stage(
    kube: KubeClient, first: list[Manifest], rest: list[Manifest]
) -> set[ObjectRef]:
    """Objects of ``rest`` whose kind or namespace does not exist until ``first`` does."""
    new_kinds = set(_crd_scopes(first))
    new_namespaces = {m.ref.name for m in first if m.ref.kind == "Namespace"}
    live_namespaces: dict[str, bool] = {}

    def namespace_missing(ns: str) -> bool:
        if ns not in live_namespaces:
            live_namespaces[ns] = kube.get("v1", ObjectRef("", "Namespace", "", ns)) is None
        return live_namespaces[ns]

    return {
        m.ref
        for m in rest
        if (m.ref.group, m.ref.kind) in new_kinds
        or (m.ref.namespace in new_namespaces and namespace_missing(m.ref.namespace))
    }


def _plan(
    workers: Workers,
    manifests: list[Manifest],
    ignore: tuple[IgnoreRule, ...],
    *,
    written_before: str = "",
    new: Collection[ObjectRef] = (),
    seen: dict[ObjectRef, KubeObject],
) -> list[_Planned]:
    """Dry-run every manifest; raise ``DryRunError`` naming each refused object. Objects
    of ``new`` without ignore rules are read only when their dry-run finds them."""
    unread = {m.ref for m in manifests if m.ref in new and ignores_for(ignore, m.ref) == ((), ())}
    read = workers.read((m.ref, m.api_version) for m in manifests if m.ref not in unread)

    def dry_run(m: Manifest) -> _Planned | ApiError | NotFoundError:
        wanted = digest(m, ignore)
        if m.ref in unread:
            return _dry_run_new(workers, m, wanted, seen)
        live = read[m.ref]
        if isinstance(live, ApiError | NotFoundError):
            return live
        if live is not None:
            seen[m.ref] = live
        if workers.in_sync.holds(m.ref, wanted, live):
            return _Planned(m, m.obj, Action.UNCHANGED, wanted)
        try:
            body = adopt_ignored(m.obj, live, *ignores_for(ignore, m.ref))
            result = workers.kube.apply(body, dry_run=True)
        except (ApiError, NotFoundError) as exc:
            return exc
        return _planned(workers, m, body, wanted, result, live)

    results = workers.map(dry_run, manifests)
    failures = [
        (m, r) for m, r in zip(manifests, results, strict=True) if not isinstance(r, _Planned)
    ]
    transient = next((r for _, r in failures if isinstance(r, ApiError) and r.transient), None)
    if transient is not None:
        raise transient  # the API server's trouble, not the revision's: retry it
    if failures:
        raise _dry_run_error(failures, written_before=written_before)
    return [r for r in results if isinstance(r, _Planned)]


def _dry_run_new(
    workers: Workers, m: Manifest, wanted: str, seen: dict[ObjectRef, KubeObject]
) -> _Planned | ApiError | NotFoundError:
    """Dry-run an object expected not to exist. A dry-run that creates answers without a
    resourceVersion; one that finds the object answers with its own, and only then is the
    live object read, to tell a change from none."""
    try:
        result = workers.kube.apply(m.obj, dry_run=True)
        if not version_of(result):
            return _Planned(m, m.obj, Action.CREATED, wanted)
        live = workers.kube.get(m.api_version, m.ref)
    except (ApiError, NotFoundError) as exc:
        return exc
    if live is not None:
        seen[m.ref] = live
    return _planned(workers, m, m.obj, wanted, result, live)


def _planned(
    workers: Workers,
    m: Manifest,
    body: KubeObject,
    wanted: str,
    result: KubeObject,
    live: KubeObject | None,
) -> _Planned:
    """What the dry-run ``result`` of ``body`` says is to be done to ``live``."""
    if live is None:
        return _Planned(m, body, Action.CREATED, wanted)
    if differs(result, live):
        return _Planned(m, body, Action.CONFIGURED, wanted)
    workers.in_sync.remember(m.ref, wanted, live)
    return _Planned(m, body, Action.UNCHANGED, wanted)


def _write(workers: Workers, plan: list[_Planned], seen: dict[ObjectRef, KubeObject]) -> ChangeSet:
    """Apply changed objects kind by kind, the objects of one kind concurrently; stop
    after the first kind with a failure."""
    entries: list[ChangeSetEntry] = []
    for _, group in itertools.groupby(plan, key=lambda p: apply_order_key(p.manifest.ref)[:2]):
        batch = list(group)
        results = workers.map(lambda p: _write_one(workers, p, seen), batch)
        failures = [f for f in results if f is not None]
        transient = next((f for f in failures if isinstance(f, ApiError) and f.transient), None)
        if transient is not None:
            raise transient  # the API server's trouble, not the revision's: retry it
        if failures:
            raise failures[0]
        entries += (ChangeSetEntry(p.manifest.ref, p.action) for p in batch)
    return ChangeSet(tuple(entries))


def _write_one(
    workers: Workers, planned: _Planned, seen: dict[ObjectRef, KubeObject]
) -> ApiError | ApplyError | None:
    if planned.action is Action.UNCHANGED:
        return None
    ref = planned.manifest.ref
    try:
        result = workers.kube.apply(planned.body)
        seen[ref] = result
    except ApiError as exc:
        if exc.transient:
            return exc
        return ApplyError(f"{ref} ({planned.manifest.source}): {exc}")
    except NotFoundError as exc:
        return ApplyError(f"{ref} ({planned.manifest.source}): {exc}")
    workers.in_sync.remember(ref, planned.digest, result)
    return None


def _sort_plan(plan: list[_Planned]) -> list[_Planned]:
    return sorted(plan, key=lambda p: apply_order_key(p.manifest.ref))


def _crd_scopes(manifests: Iterable[Manifest]) -> dict[tuple[str, str], bool]:
    """(group, kind) -> namespaced, for every CRD in ``manifests``."""
    scopes = {}
    for m in manifests:
        if m.ref.kind == "CustomResourceDefinition" and group_of(m.api_version):
            spec = m.obj.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind")
            if kind:
                scopes[(str(spec.get("group", "")), str(kind))] = spec.get("scope") != "Cluster"
    return scopes


def _missing(m: Manifest, exc: ApiError | NotFoundError) -> str | None:
    """What a dry-run failure says is missing from the cluster, if that is all it says. A
    server-side apply creates what does not exist, and kinds were resolved before the
    dry-run, so a not-found answer means the object's Namespace is not there (or, for a
    cluster-scoped object, that its kind went away)."""
    if isinstance(exc, NotFoundError) or exc.code == 404:
        return "NamespaceNotFound" if m.ref.namespace else "KindNotFound"
    return None


def _dry_run_error(
    failures: list[tuple[Manifest, ApiError | NotFoundError]], *, written_before: str
) -> DryRunError | PrerequisiteMissingError:
    lines = [
        f"{m.ref} ({m.source}) dry-run failed"
        f" ({exc.api_reason if isinstance(exc, ApiError) else exc.reason}): {exc}"
        for m, exc in failures[:_MAX_LISTED_ERRORS]
    ]
    more = len(failures) - _MAX_LISTED_ERRORS
    if more > 0:
        lines.append(f"and {more} more")
    prefix = f"{written_before} were applied; " if written_before else "nothing applied; "
    missing = {_missing(m, exc) for m, exc in failures}
    if not written_before and None not in missing:
        return PrerequisiteMissingError(
            f"{prefix}{'; '.join(lines)}; tried again every {PREREQUISITE_RETRY:.0f}s",
            reason=missing.pop() if len(missing) == 1 else "PrerequisiteMissing",
            requeue_after=PREREQUISITE_RETRY,
        )
    forbidden = all(isinstance(exc, ApiError) and exc.code == 403 for _, exc in failures)
    return DryRunError(
        prefix + "; ".join(lines),
        reason="Forbidden" if forbidden else None,
        partial=bool(written_before),
    )
