"""``ResourceManager``: validate, apply in stages, diff and prune sets of objects.

Validation before mutation: every object passes a server-side-apply dry-run before the
first real write. The one exception is staging: objects whose kind or namespace comes from
a CRD or Namespace of the same set are validated right after that first stage is applied.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from .api import PRUNE_ANNOTATION, IgnoreRule
from .diff import FieldChange, adopt_ignored, differs, field_changes, ignores_for
from .errors import ApiError, ApplyError, DryRunError, NotFoundError
from .health import Health, HealthStatus, assess
from .inventory import Inventory
from .kube import KubeClient
from .objects import (
    KubeObject,
    Manifest,
    ObjectRef,
    apply_order_key,
    apply_stage,
    group_of,
    sort_for_apply,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

STAGE_WAIT_TIMEOUT = 30.0
_MAX_LISTED_ERRORS = 3


class Action(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class ChangeSetEntry:
    ref: ObjectRef
    action: Action


@dataclass(frozen=True, slots=True)
class ChangeSet:
    entries: tuple[ChangeSetEntry, ...] = ()

    def __add__(self, other: ChangeSet) -> ChangeSet:
        return ChangeSet(self.entries + other.entries)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((a.value for a in Action), 0)
        for entry in self.entries:
            counts[entry.action.value] += 1
        return counts

    @property
    def changed(self) -> bool:
        return any(e.action is not Action.UNCHANGED for e in self.entries)

    def summary(self) -> str:
        return ", ".join(f"{n} {action}" for action, n in self.counts().items() if n)


@dataclass(frozen=True, slots=True)
class Drift:
    """One object whose live state differs from the desired one (or that is missing)."""

    ref: ObjectRef
    changes: tuple[FieldChange, ...]
    missing: bool = False


@dataclass(frozen=True, slots=True)
class _Planned:
    manifest: Manifest
    body: KubeObject  # what is applied: the manifest with ignored fields adopted
    action: Action


@dataclass(slots=True)
class ResourceManager:
    kube: KubeClient
    concurrency: int = 8
    _pool: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="apply")

    # -- scope --------------------------------------------------------------------------

    def set_namespaces(self, manifests: list[Manifest], default_namespace: str) -> list[Manifest]:
        """Give namespaced objects ``default_namespace`` when they have none; strip it
        from cluster-scoped ones. Kinds defined by CRDs in the same set are understood."""
        crd_scopes = _crd_scopes(manifests)
        result = []
        for m in manifests:
            ref = m.ref
            scoped = crd_scopes.get((ref.group, ref.kind))
            if scoped is None:
                try:
                    scoped = self.kube.is_namespaced(m.api_version, ref.kind)
                except NotFoundError as exc:
                    raise DryRunError(f"nothing applied; {ref} ({m.source}): {exc}") from exc
            meta = dict(m.obj.get("metadata") or {})
            if scoped and not meta.get("namespace"):
                meta["namespace"] = default_namespace
            elif not scoped:
                meta.pop("namespace", None)
            result.append(Manifest({**m.obj, "metadata": meta}, m.source))
        return result

    # -- apply --------------------------------------------------------------------------

    def apply_all(
        self,
        manifests: list[Manifest],
        *,
        before_write: Callable[[], None],
        ignore: tuple[IgnoreRule, ...] = (),
    ) -> ChangeSet:
        """Validate and apply ``manifests`` in two stages; return what changed.

        ``before_write`` runs once after validation and before the first real write (the
        caller records the inventory there). Unchanged objects are not written.
        """
        ordered = sort_for_apply(manifests)
        first = [m for m in ordered if apply_stage(m.ref) == 0]
        rest = [m for m in ordered if apply_stage(m.ref) == 1]
        deferred = self._needs_first_stage(first, rest)
        plan = self._plan(first + [m for m in rest if m.ref not in deferred], ignore)
        before_write()
        changes = self._write([p for p in plan if apply_stage(p.manifest.ref) == 0])
        if first:
            self._wait_first_stage(first)
            self.kube.refresh_discovery()
        later = self._plan(
            [m for m in rest if m.ref in deferred], ignore, after_first_stage=bool(first)
        )
        planned_rest = [p for p in plan if apply_stage(p.manifest.ref) == 1]
        return changes + self._write(_sort_plan(planned_rest + later))

    def diff_all(
        self, manifests: list[Manifest], ignore: tuple[IgnoreRule, ...] = ()
    ) -> list[Drift]:
        """Dry-run every manifest and report the objects whose live state differs."""

        def check(m: Manifest) -> Drift | None:
            live = self.kube.get(m.api_version, m.ref)
            if live is None:
                return Drift(m.ref, (), missing=True)
            body = adopt_ignored(m.obj, live, *ignores_for(ignore, m.ref))
            result = self.kube.apply(body, dry_run=True)
            changes = field_changes(result, live)
            return Drift(m.ref, tuple(changes)) if changes else None

        return [d for d in self._map(check, manifests) if d is not None]

    def _needs_first_stage(self, first: list[Manifest], rest: list[Manifest]) -> set[ObjectRef]:
        """Objects of ``rest`` whose kind or namespace does not exist until ``first`` does."""
        new_kinds = set(_crd_scopes(first))
        new_namespaces = {m.ref.name for m in first if m.ref.kind == "Namespace"}
        live_namespaces: dict[str, bool] = {}

        def namespace_missing(ns: str) -> bool:
            if ns not in live_namespaces:
                ref = ObjectRef("", "Namespace", "", ns)
                live_namespaces[ns] = self.kube.get("v1", ref) is None
            return live_namespaces[ns]

        return {
            m.ref
            for m in rest
            if (m.ref.group, m.ref.kind) in new_kinds
            or (m.ref.namespace in new_namespaces and namespace_missing(m.ref.namespace))
        }

    def _plan(
        self,
        manifests: list[Manifest],
        ignore: tuple[IgnoreRule, ...],
        *,
        after_first_stage: bool = False,
    ) -> list[_Planned]:
        """Dry-run every manifest; raise ``DryRunError`` naming each refused object."""

        def dry_run(m: Manifest) -> _Planned | ApiError | NotFoundError:
            try:
                live = self.kube.get(m.api_version, m.ref)
                body = adopt_ignored(m.obj, live, *ignores_for(ignore, m.ref))
                result = self.kube.apply(body, dry_run=True)
            except (ApiError, NotFoundError) as exc:
                return exc
            if live is None:
                return _Planned(m, body, Action.CREATED)
            changed = differs(result, live)
            return _Planned(m, body, Action.CONFIGURED if changed else Action.UNCHANGED)

        results = self._map(dry_run, manifests)
        failures = [
            (m, r) for m, r in zip(manifests, results, strict=True) if not isinstance(r, _Planned)
        ]
        transient = next((r for _, r in failures if isinstance(r, ApiError) and r.transient), None)
        if transient is not None:
            raise transient  # the API server's trouble, not the revision's: retry it
        if failures:
            raise _dry_run_error(failures, after_first_stage=after_first_stage)
        return [r for r in results if isinstance(r, _Planned)]

    def _write(self, plan: list[_Planned]) -> ChangeSet:
        """Apply changed objects in order; stop at the first failure."""
        entries = []
        for planned in plan:
            ref = planned.manifest.ref
            if planned.action is not Action.UNCHANGED:
                try:
                    self.kube.apply(planned.body)
                except ApiError as exc:
                    if exc.transient:
                        raise  # the API server's trouble, not the revision's: retry it
                    raise ApplyError(f"{ref} ({planned.manifest.source}): {exc}") from exc
                except NotFoundError as exc:
                    raise ApplyError(f"{ref} ({planned.manifest.source}): {exc}") from exc
            entries.append(ChangeSetEntry(ref, planned.action))
        return ChangeSet(tuple(entries))

    def _wait_first_stage(self, manifests: list[Manifest]) -> None:
        """Wait until every CRD is Established and every Namespace Active."""
        deadline = time.monotonic() + STAGE_WAIT_TIMEOUT
        pending = list(manifests)
        while pending:
            pending = [m for m in pending if not _stage_ready(self.kube.get(m.api_version, m.ref))]
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(str(m.ref) for m in pending)
                raise ApplyError(f"not ready after {STAGE_WAIT_TIMEOUT:.0f}s: {names}")
            time.sleep(0.2)

    # -- health -------------------------------------------------------------------------

    def assess(self, inventory: Inventory) -> list[tuple[ObjectRef, Health]]:
        """The health of every inventoried object, read from the cluster now."""

        def one(item: tuple[ObjectRef, str]) -> tuple[ObjectRef, Health]:
            ref, version = item
            try:
                return ref, assess(self.kube.get(version, ref))
            except (ApiError, NotFoundError) as exc:
                return ref, Health(HealthStatus.UNKNOWN, str(exc))

        return self._map(one, sorted(inventory.items()))

    # -- prune --------------------------------------------------------------------------

    def delete_all(self, stale: Inventory) -> tuple[ChangeSet, Inventory, list[str]]:
        """Delete every object of ``stale`` (dependents in the background), except those
        annotated ``gitops-operator.dev/prune: disabled``, which are left and disowned.

        Returns what was deleted or skipped, the survivors of failed deletes (which stay
        in the inventory) and one message per survivor.
        """

        def delete(item: tuple[ObjectRef, str]) -> Action | ApiError:
            ref, version = item
            try:
                live = self.kube.get(version, ref)
                if live is None:
                    return Action.DELETED
                annotations = (live.get("metadata") or {}).get("annotations") or {}
                if annotations.get(PRUNE_ANNOTATION) == "disabled":
                    return Action.SKIPPED
                self.kube.delete(version, ref)
            except NotFoundError:
                pass  # its kind is gone too: nothing is left to delete
            except ApiError as exc:
                return exc
            return Action.DELETED

        items = sorted(stale.items(), key=lambda i: apply_order_key(i[0]), reverse=True)
        results = self._map(delete, items)
        done = tuple(
            ChangeSetEntry(ref, r)
            for (ref, _), r in zip(items, results, strict=True)
            if isinstance(r, Action)
        )
        survivors = {
            ref: v for (ref, v), r in zip(items, results, strict=True) if isinstance(r, ApiError)
        }
        messages = [
            f"{ref}: {r}"
            for (ref, _), r in zip(items, results, strict=True)
            if isinstance(r, ApiError)
        ]
        return ChangeSet(done), survivors, messages

    def _map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return list(self._pool.map(fn, items))


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


def _stage_ready(obj: KubeObject | None) -> bool:
    if obj is None:
        return False
    status = obj.get("status") or {}
    if obj.get("kind") == "Namespace":
        return bool(status.get("phase") == "Active")
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _dry_run_error(
    failures: list[tuple[Manifest, ApiError | NotFoundError]], *, after_first_stage: bool
) -> DryRunError:
    lines = [
        f"{m.ref} ({m.source}) dry-run failed"
        f" ({exc.api_reason if isinstance(exc, ApiError) else exc.reason}): {exc}"
        for m, exc in failures[:_MAX_LISTED_ERRORS]
    ]
    more = len(failures) - _MAX_LISTED_ERRORS
    if more > 0:
        lines.append(f"and {more} more")
    prefix = "only CRDs and Namespaces were applied; " if after_first_stage else "nothing applied; "
    forbidden = all(isinstance(exc, ApiError) and exc.code == 403 for _, exc in failures)
    error = DryRunError(prefix + "; ".join(lines), reason="Forbidden" if forbidden else None)
    error.partial = after_first_stage
    return error
