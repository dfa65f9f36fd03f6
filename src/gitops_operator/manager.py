"""``ResourceManager``: validate, apply in stages, diff and prune sets of objects.

Validation before mutation: every object passes a server-side-apply dry-run before the
first real write. The one exception is staging: objects whose kind or namespace comes from
a CRD or Namespace of the same set are validated right after that first stage is applied.

Known in sync: after an object was applied, or its dry-run showed no change, the manager
remembers the desired body's digest with the live ``resourceVersion``. While both are
unchanged, applying that body again cannot change the object (any write to it, by anyone,
moves its resourceVersion), so planning and drift checks skip its dry-run. The memory is
per process: a restarted operator verifies everything once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
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
from .live import Live, read_many
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
    digest: str


@dataclass(slots=True)
class ResourceManager:
    kube: KubeClient
    concurrency: int = 8
    _pool: ThreadPoolExecutor = field(init=False)
    _in_sync: dict[ObjectRef, tuple[str, str]] = field(init=False, default_factory=dict)
    """ref -> (digest of the desired body, live resourceVersion) known to match."""

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="apply")

    # -- live state ---------------------------------------------------------------------

    def read(self, items: Iterable[tuple[ObjectRef, str]]) -> dict[ObjectRef, Live]:
        """The live state of every ``(ref, apiVersion)``: a LIST per large group of one
        kind and namespace, a GET each otherwise."""
        return read_many(self.kube, items, lambda jobs: self._map(lambda job: job(), jobs))

    def _known_in_sync(self, ref: ObjectRef, digest: str, live: KubeObject | None) -> bool:
        return live is not None and self._in_sync.get(ref) == (digest, _version_of(live))

    def _remember(self, ref: ObjectRef, digest: str, live: KubeObject) -> None:
        self._in_sync[ref] = (digest, _version_of(live))

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
        self,
        manifests: list[Manifest],
        ignore: tuple[IgnoreRule, ...] = (),
        live: Mapping[ObjectRef, Live] | None = None,
    ) -> list[Drift]:
        """Dry-run every manifest and report the objects whose live state differs.

        ``live`` may hold objects already read (by ``read``) in this pass."""
        seen = self._live_for(manifests, live or {})

        def check(m: Manifest) -> Drift | None:
            current = seen[m.ref]
            if isinstance(current, Exception):
                raise current
            if current is None:
                return Drift(m.ref, (), missing=True)
            digest = _digest(m, ignore)
            if self._known_in_sync(m.ref, digest, current):
                return None
            body = adopt_ignored(m.obj, current, *ignores_for(ignore, m.ref))
            result = self.kube.apply(body, dry_run=True)
            if not differs(result, current):
                self._remember(m.ref, digest, current)
                return None
            changes = field_changes(result, current)
            return Drift(m.ref, tuple(changes)) if changes else None

        return [d for d in self._map(check, manifests) if d is not None]

    def _live_for(
        self, manifests: list[Manifest], live: Mapping[ObjectRef, Live]
    ) -> dict[ObjectRef, Live]:
        """``live`` for the manifests it holds in their apiVersion; the rest read now."""
        known = {
            m.ref: live[m.ref]
            for m in manifests
            if m.ref in live and _same_version(live[m.ref], m.api_version)
        }
        missing = [(m.ref, m.api_version) for m in manifests if m.ref not in known]
        return {**known, **self.read(missing)} if missing else known

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

        seen = self.read((m.ref, m.api_version) for m in manifests)

        def dry_run(m: Manifest) -> _Planned | ApiError | NotFoundError:
            live = seen[m.ref]
            if isinstance(live, ApiError | NotFoundError):
                return live
            digest = _digest(m, ignore)
            if self._known_in_sync(m.ref, digest, live):
                return _Planned(m, m.obj, Action.UNCHANGED, digest)
            try:
                body = adopt_ignored(m.obj, live, *ignores_for(ignore, m.ref))
                result = self.kube.apply(body, dry_run=True)
            except (ApiError, NotFoundError) as exc:
                return exc
            if live is None:
                return _Planned(m, body, Action.CREATED, digest)
            if differs(result, live):
                return _Planned(m, body, Action.CONFIGURED, digest)
            self._remember(m.ref, digest, live)
            return _Planned(m, body, Action.UNCHANGED, digest)

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
        """Apply changed objects kind by kind, the objects of one kind concurrently; stop
        after the first kind with a failure."""
        entries: list[ChangeSetEntry] = []
        for _, group in itertools.groupby(plan, key=lambda p: apply_order_key(p.manifest.ref)[:2]):
            batch = list(group)
            failures = [f for f in self._map(self._write_one, batch) if f is not None]
            transient = next((f for f in failures if isinstance(f, ApiError) and f.transient), None)
            if transient is not None:
                raise transient  # the API server's trouble, not the revision's: retry it
            if failures:
                raise failures[0]
            entries += (ChangeSetEntry(p.manifest.ref, p.action) for p in batch)
        return ChangeSet(tuple(entries))

    def _write_one(self, planned: _Planned) -> ApiError | ApplyError | None:
        if planned.action is Action.UNCHANGED:
            return None
        ref = planned.manifest.ref
        try:
            result = self.kube.apply(planned.body)
        except ApiError as exc:
            if exc.transient:
                return exc
            return ApplyError(f"{ref} ({planned.manifest.source}): {exc}")
        except NotFoundError as exc:
            return ApplyError(f"{ref} ({planned.manifest.source}): {exc}")
        self._remember(ref, planned.digest, result)
        return None

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

    def assess(
        self, inventory: Inventory, live: Mapping[ObjectRef, Live] | None = None
    ) -> list[tuple[ObjectRef, Health]]:
        """The health of every inventoried object: from ``live`` when given, else read
        from the cluster now."""
        seen = live if live is not None else self.read(inventory.items())
        results = []
        for ref in sorted(inventory):
            current = seen.get(ref)
            if isinstance(current, ApiError | NotFoundError):
                results.append((ref, Health(HealthStatus.UNKNOWN, str(current))))
            else:
                results.append((ref, assess(current)))
        return results

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
                self._in_sync.pop(ref, None)
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


def _digest(manifest: Manifest, ignore: tuple[IgnoreRule, ...]) -> str:
    """What the applied body depends on besides the live object: the manifest and the
    ignore rules that match it."""
    text = json.dumps(
        [manifest.obj, repr(ignores_for(ignore, manifest.ref))], sort_keys=True, default=str
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _version_of(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _same_version(live: Live, api_version: str) -> bool:
    return not isinstance(live, dict) or live.get("apiVersion") == api_version


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
    return DryRunError(
        prefix + "; ".join(lines),
        reason="Forbidden" if forbidden else None,
        partial=after_first_stage,
    )
