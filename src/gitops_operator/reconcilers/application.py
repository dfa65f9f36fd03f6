"""Reconcile an Application.

Each pass reads the Application and its source afresh and takes one of four paths:

- sync: a new revision, a spec change or a requestedAt: render, validate (dry-run), record
  the inventory, apply in stages, prune, then assess health;
- health: the applied revision has not yet been healthy: assess again until
  healthTimeout (measured from when it was applied);
- steady: nothing new: refresh health, check drift when due, correct it with selfHeal.
  A revision that has been healthy once is never failed by health again (``health_gate``);
  within an opt-in soak period, turning Degraded still rolls it back;
- quarantine: the source points at a revision that failed: leave the cluster as the last
  good revision left it until a new commit, a spec change or the retryAt annotation.

A failed revision is rolled back (``rollback.py``) when it was partly applied or did not
become healthy, and quarantined in every case.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .. import inventory
from ..api import (
    API_VERSION,
    GROUP,
    REPOSITORY_KIND,
    REQUESTED_AT_ANNOTATION,
    RETRY_ANNOTATION,
    ROLLBACK_TO_ANNOTATION,
    ApplicationSpec,
    GitRef,
    RefKind,
    parse_application_spec,
    parse_repository_spec,
    sha_of,
)
from ..conditions import (
    ConditionType,
    ConditionUpdate,
    failed,
    get_condition,
    progressing,
    ready,
)
from ..config import Settings
from ..errors import (
    ApplyError,
    DryRunError,
    GitOpsError,
    HealthCheckError,
    InvalidSpecError,
    PruneError,
    SourceNotReadyError,
    SourcePendingError,
    StalledError,
)
from ..health import Health, HealthStatus, aggregate
from ..history import SyncResult, record
from ..inventory import Inventory
from ..kube import KubeClient
from ..manager import ChangeSet, PruneResult, ResourceManager
from ..metrics import count_changes
from ..objects import Manifest, ObjectRef
from ..render import RenderTools, render
from ..source import Artifact, GitSource
from .credentials import load_credentials
from .drift import drift_status
from .health_gate import health_check_passed, seconds_since, soak_remaining
from .outcome import Event, Outcome, counts_patch
from .rollback import Rollback
from .snapshots import SnapshotStore

Logger = logging.Logger | logging.LoggerAdapter[Any]
StatusWriter = Callable[[dict[str, Any]], None]

HEALTH_POLL = 2.0
"""Seconds between health assessments while a revision is Progressing."""
SOURCE_GRACE = 30.0
"""Seconds a new Application waits for its GitRepository to appear before warning."""
_ALL_TRANSIENT = (ConditionType.RECONCILING, ConditionType.STALLED, ConditionType.ROLLED_BACK)


@dataclass(slots=True)
class ApplicationRun:
    """Everything one pass over one Application learns, step by step."""

    obj: dict[str, Any]
    spec: ApplicationSpec
    status: dict[str, Any]
    now: str
    write_status: StatusWriter
    logger: Logger
    revision: str = ""
    repo_spec: dict[str, Any] = field(default_factory=dict)
    artifact: Artifact | None = None
    manifests: list[Manifest] = field(default_factory=list)
    inventory: Inventory = field(default_factory=dict)
    """What status.inventory holds now; updated whenever it is written."""
    changes: ChangeSet = field(default_factory=ChangeSet)
    source_failing: ConditionUpdate | None = None
    """SourceReady=False while the GitRepository fails (its last artifact still applies)."""
    manager: ResourceManager = field(init=False)
    """The operator's own manager, or one that impersonates the tenant's ServiceAccount."""

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def generation(self) -> int:
        return int(self.obj["metadata"].get("generation", 0))

    def annotation(self, key: str) -> str:
        return str((self.obj["metadata"].get("annotations") or {}).get(key, ""))

    def record_inventory(self, refs: Inventory) -> None:
        if refs != self.inventory:
            self.write_status({"inventory": inventory.to_status(refs)})
            self.inventory = dict(refs)


@dataclass(frozen=True, slots=True)
class ApplicationReconciler:
    kube: KubeClient
    git: GitSource
    manager: ResourceManager
    tools: RenderTools
    snapshots: SnapshotStore
    default_service_account: str = ""
    no_cross_namespace_refs: bool = False
    repositories: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """GitRepositories as last seen by the operator's watch, by (namespace, name); a
    repository not in it is read from the API server."""
    _drift_checked: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """When drift was last checked, by (namespace, name, uid): status.lastDriftCheckAt
    is written only when the result changes, or at most every interval."""
    _tenants: dict[str, ResourceManager] = field(default_factory=dict)
    _tenants_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(
        cls, kube: KubeClient, git: GitSource, settings: Settings
    ) -> ApplicationReconciler:
        """The reconciler the operator runs, also used by the CLI's diff."""
        return cls(
            kube,
            git,
            ResourceManager(kube, settings.apply_concurrency),
            RenderTools.from_settings(settings),
            SnapshotStore(kube),
            default_service_account=settings.default_service_account,
            no_cross_namespace_refs=settings.no_cross_namespace_refs,
        )

    def manager_for(self, namespace: str, service_account: str) -> ResourceManager:
        """Every dry-run, apply, read and delete of an Application goes through this
        manager: the tenant's ServiceAccount, impersonated, when one is named."""
        account = service_account or self.default_service_account
        if not account:
            return self.manager
        user = f"system:serviceaccount:{namespace}:{account}"
        with self._tenants_lock:
            if user not in self._tenants:
                self._tenants[user] = ResourceManager(
                    self.kube.impersonating(user), self.manager.concurrency
                )
            return self._tenants[user]

    def forget(self, namespace: str, name: str) -> None:
        """Drop what is remembered about a deleted Application."""
        for key in [k for k in self._drift_checked if k[:2] == (namespace, name)]:
            self._drift_checked.pop(key, None)
        self.snapshots.forget(namespace, name)

    def reconcile(
        self, obj: dict[str, Any], *, write_status: StatusWriter, now: str, logger: Logger
    ) -> Outcome:
        """One pass; raises ``GitOpsError`` only for transient or spec problems, which
        never prune anything."""
        spec = parse_application_spec(obj.get("spec") or {}, obj["metadata"]["namespace"])
        if spec.suspend:
            return Outcome(
                {},
                [
                    ConditionUpdate(
                        ConditionType.READY, True, "Suspended", "reconciliation is suspended"
                    )
                ],
                spec.interval,
            )
        status = dict(obj.get("status") or {})
        run = ApplicationRun(
            obj, spec, status, now, write_status, logger, inventory=inventory.from_status(status)
        )
        run.manager = self.manager_for(run.namespace, spec.service_account)
        self.fetch_source(run)
        outcome = self._dispatch(run)
        if run.source_failing is not None:
            return replace(outcome, conditions=[*outcome.conditions, run.source_failing])
        return replace(outcome, clear=(*outcome.clear, ConditionType.SOURCE_READY))

    def _dispatch(self, run: ApplicationRun) -> Outcome:
        rollback_to = run.annotation(ROLLBACK_TO_ANNOTATION)
        if rollback_to and rollback_to != run.status.get("lastHandledRollbackTo"):
            return Rollback(self, run).manual(rollback_to)
        if self._quarantined(run):
            return self.steady(run, quarantined=True)
        if self._settled(run):
            if not health_check_passed(run.status):
                return self.check_health(run)
            return self.steady(run)
        return self.sync(run)

    # -- decisions -----------------------------------------------------------------------

    def _quarantined(self, run: ApplicationRun) -> bool:
        retry = run.annotation(RETRY_ANNOTATION)
        return bool(
            run.status.get("failedRevision") == run.revision
            and run.status.get("failedGeneration") == run.generation
            and (not retry or retry == run.status.get("lastHandledRetryAt"))
        )

    def _settled(self, run: ApplicationRun) -> bool:
        requested = run.annotation(REQUESTED_AT_ANNOTATION)
        return bool(
            run.status.get("lastAppliedRevision") == run.revision
            and run.status.get("observedGeneration") == run.generation
            and (not requested or requested == run.status.get("lastHandledReconcileAt"))
        )

    # -- steps ---------------------------------------------------------------------------

    def fetch_source(self, run: ApplicationRun) -> None:
        """Sets ``run.revision`` and ``run.artifact`` from the GitRepository's artifact, and
        ``run.source_failing`` (the SourceReady condition) while the repository fails.

        Raises ``SourceNotReadyError`` while the repository has none yet."""
        source = run.spec.source
        if self.no_cross_namespace_refs and source.namespace != run.namespace:
            raise InvalidSpecError(
                f"spec.sourceRef.namespace {source.namespace!r}: this operator forbids"
                " sources in other namespaces",
                reason="CrossNamespaceRef",
            )
        ref = ObjectRef(GROUP, REPOSITORY_KIND, source.namespace, source.name)
        repo = self.repositories.get((source.namespace, source.name))
        if repo is None:
            repo = self.kube.get(API_VERSION, ref)
        if repo is None:
            age = seconds_since(str(run.obj["metadata"].get("creationTimestamp") or ""), run.now)
            if age < SOURCE_GRACE:  # created together, and seen first
                raise SourcePendingError(f"waiting for {ref} to be created", requeue_after=2.0)
            raise SourceNotReadyError(f"{ref} not found", requeue_after=10.0)
        published = (repo.get("status") or {}).get("artifact") or {}
        repo_ready = (
            get_condition((repo.get("status") or {}).get("conditions") or [], ConditionType.READY)
            or {}
        )
        failing = repo_ready.get("status") == "False"
        if not published.get("sha"):
            if failing:
                raise SourceNotReadyError(
                    f"{ref} has no artifact: {repo_ready.get('message', '')}",
                    requeue_after=10.0,
                )
            raise SourcePendingError(
                f"waiting for {ref} to fetch its first artifact", requeue_after=5.0
            )
        if failing:
            run.source_failing = ConditionUpdate(
                ConditionType.SOURCE_READY,
                False,
                str(repo_ready.get("reason") or "SourceFailed"),
                f"{ref} is failing since {repo_ready.get('lastTransitionTime', '?')}:"
                f" {repo_ready.get('message', '')}; its last artifact"
                f" {published.get('revision', '')} is still the one applied",
            )
        run.revision = str(published["revision"])
        run.repo_spec = dict(repo.get("spec") or {})
        run.artifact = self.artifact(source.namespace, run.repo_spec, str(published["sha"]))

    def artifact(self, namespace: str, repo_spec: dict[str, Any], sha: str) -> Artifact:
        """The tree of ``sha``: from the cache, else fetched by SHA from the repository."""
        cached = self.git.artifact(sha)
        if cached:
            return cached
        spec = parse_repository_spec(repo_spec)
        credentials = load_credentials(self.kube, namespace, spec.secret_name)
        return self.git.fetch(
            spec.url,
            GitRef(RefKind.COMMIT, sha),
            sha,
            timeout=spec.timeout,
            credentials=credentials,
        )

    def render(self, run: ApplicationRun, artifact: Artifact) -> list[Manifest]:
        """Render the Application's path of ``artifact`` and put every object in its
        namespace (targetNamespace, else the Application's, for namespaced kinds)."""
        manifests = render(
            artifact.path,
            run.spec.path,
            run.spec.render,
            tools=self.tools,
            release_name=run.spec.render.helm.release_name or run.name,
            namespace=run.spec.target_namespace or run.namespace,
        )
        if run.spec.target_namespace:
            manifests = [_with_namespace(m, run.spec.target_namespace) for m in manifests]
        return run.manager.set_namespaces(manifests, run.spec.target_namespace or run.namespace)

    def sync(self, run: ApplicationRun) -> Outcome:
        """Apply the source's revision; then assess health (or roll back, or quarantine)."""
        started = time.monotonic()
        if run.status.get("lastAttemptedRevision") != run.revision:
            run.write_status({"lastAttemptedRevision": run.revision})
        assert run.artifact is not None
        try:
            run.manifests = self.render(run, run.artifact)
            self.guard_deletions(run)
            desired = inventory.of_manifests(run.manifests)
            run.changes = run.manager.apply_all(
                run.manifests,
                ignore=run.spec.ignore_differences,
                before_write=lambda: run.record_inventory(inventory.union(run.inventory, desired)),
            )
            self.prune(run)
        except DryRunError as exc:
            if exc.partial:
                return Rollback(self, run).handle(exc)
            return self.failed(run, exc)
        except ApplyError as exc:
            return Rollback(self, run).handle(exc)
        except StalledError as exc:
            return self.failed(run, exc)
        self.snapshots.save(
            run.obj,
            sha_of(run.revision),
            run.manifests,
            keep={sha_of(run.status.get("lastGoodRevision", ""))},
        )
        run.status["lastAppliedAt"] = run.now
        run.status["healthyAt"] = None
        run.logger.info(
            "applied %s in %.2fs: %s",
            run.revision,
            time.monotonic() - started,
            run.changes.summary() or "no objects",
        )
        outcome = self.check_health(run, applied=True)
        applied = outcome.status.get("lastAppliedRevision")
        if not applied:
            return outcome
        # the apply made the live objects match what was applied: an older drift result
        # would describe a revision that is no longer there
        return replace(
            outcome,
            status={"drift": None, **outcome.status},
            conditions=[
                *outcome.conditions,
                ConditionUpdate(
                    ConditionType.DRIFTED, False, "NoDrift", f"live objects match {applied}"
                ),
            ],
        )

    def guard_deletions(self, run: ApplicationRun) -> None:
        """Refuse, before any write, an empty render or more deletions than allowed."""
        if not run.spec.prune:
            return
        stale = inventory.stale(run.inventory, inventory.of_manifests(run.manifests))
        if not run.manifests and stale and not run.spec.allow_empty:
            raise StalledError(
                f"revision {run.revision} renders no objects; refusing to prune the"
                f" {len(stale)} objects of the inventory (set spec.allowEmpty to allow it)",
                reason="EmptyRender",
            )
        limit = run.spec.max_deletions
        if limit is not None and len(stale) > limit:
            names = ", ".join(str(r) for r in sorted(stale)[:5])
            raise StalledError(
                f"revision {run.revision} would delete {len(stale)} objects, more than"
                f" spec.maxDeletions={limit} ({names}{', ...' if len(stale) > 5 else ''})",
                reason="TooManyDeletions",
            )

    def prune(self, run: ApplicationRun) -> None:
        """Delete what the inventory has and the render lacks (if ``spec.prune``);
        survivors of a failed delete stay in the inventory."""
        desired = inventory.of_manifests(run.manifests)
        stale = inventory.stale(run.inventory, desired) if run.spec.prune else {}
        pruned = run.manager.delete_all(stale) if stale else PruneResult()
        run.changes = run.changes + pruned.changes
        run.record_inventory(inventory.union(pruned.survivors, desired))
        if pruned.survivors:
            raise PruneError(
                f"{len(pruned.survivors)} object(s) could not be deleted: "
                + "; ".join(pruned.messages()[:3])
            )

    def check_health(self, run: ApplicationRun, *, applied: bool = False) -> Outcome:
        """Healthy: the revision is good. Progressing: look again soon, until
        healthTimeout. Degraded or timed out: roll back."""
        results = run.manager.assess(run.inventory)
        overall = aggregate(h.status for _, h in results)
        status = {
            "sync": "Synced",
            "health": overall.value,
            "lastAppliedRevision": run.revision,
            "lastAppliedAt": run.status.get("lastAppliedAt", run.now),
            # kept for the history entry written when the revision turns healthy later
            "lastAppliedChanges": _counts(run.changes)
            if applied
            else _counts_of(run.status.get("lastAppliedChanges")),
        }
        if applied:
            status["healthyAt"] = None
        if overall is HealthStatus.HEALTHY:
            return self.succeeded(run, status)
        waited = seconds_since(status["lastAppliedAt"], run.now)
        worst = _worst(results, overall)
        if overall is HealthStatus.DEGRADED or waited >= run.spec.health_timeout:
            why = (
                "is Degraded"
                if overall is HealthStatus.DEGRADED
                else (f"did not become healthy within {run.spec.health_timeout:.0f}s")
            )
            error = HealthCheckError(f"revision {run.revision} {why}: {worst}")
            if applied:
                run.write_status(_as_patch(status))
            return Rollback(self, run).handle(error)
        message = f"waiting for revision {run.revision} to become healthy: {worst}"
        return Outcome(
            _as_patch(status),
            progressing(message),
            HEALTH_POLL,
            [Event("Progressing", message)] if applied and run.changes.changed else [],
        )

    def succeeded(self, run: ApplicationRun, status: dict[str, Any]) -> Outcome:
        """The applied revision turned healthy: its health check is over (``healthyAt``).
        It becomes ``lastGoodRevision`` now, or when its soak period ends."""
        message = f"Applied revision: {run.revision}"
        entry = {
            "revision": run.revision,
            "result": SyncResult.SUCCEEDED.value,
            "startedAt": status["lastAppliedAt"],
            "finishedAt": run.now,
            "changes": status["lastAppliedChanges"],
        }
        history = record(list(run.status.get("history") or []), entry)
        count_changes(run.namespace, run.name, status["lastAppliedChanges"])
        soak = run.spec.rollback.soak_period
        previous_good = str(run.status.get("lastGoodRevision") or "")
        soaking = soak > 0 and previous_good not in ("", run.revision)
        promoted: dict[str, Any] = {}
        if soaking:
            self.snapshots.retain(run.obj, {sha_of(run.revision), sha_of(previous_good)})
            message += f" (healthy; soak period of {soak:.0f}s before it is the last good one)"
        else:
            self.snapshots.retain(run.obj, {sha_of(run.revision)})
            promoted["lastGoodRevision"] = run.revision
        events = [
            Event("ReconciliationSucceeded", f"{message} ({run.changes.summary() or 'healthy'})")
        ]
        return Outcome(
            _as_patch(
                {
                    **status,
                    **promoted,
                    "healthyAt": run.now,
                    "lastAttemptedRevision": run.revision,
                    "failedRevision": None,
                    "failedGeneration": None,
                    "history": history,
                    **self.handled_retry(run),
                }
            ),
            ready(message),
            min(run.spec.interval, run.spec.drift_interval, soak if soaking else float("inf")),
            events,
            clear=_ALL_TRANSIENT,
        )

    def failed(self, run: ApplicationRun, exc: GitOpsError, **extra: Any) -> Outcome:
        """Quarantine the revision: not retried until a new commit, spec change or retry."""
        entry = {
            "revision": run.revision,
            "result": SyncResult.FAILED.value,
            "startedAt": run.now,
            "finishedAt": run.now,
            "message": exc.message[:1024],
        }
        return Outcome(
            {
                "sync": "OutOfSync",
                "failedRevision": run.revision,
                "failedGeneration": run.generation,
                "history": record(list(run.status.get("history") or []), entry),
                **self.handled_retry(run),
                **extra,
            },
            failed(exc.reason, exc.message, stalled=True),
            run.spec.interval,
            [Event(exc.reason, exc.message, warning=True)],
        )

    def steady(self, run: ApplicationRun, *, quarantined: bool = False) -> Outcome:
        """Refresh health; check drift when due and correct it with selfHeal. Both read
        the live objects once.

        Sets ``health`` (Unknown while nothing was ever applied), ``drift``,
        ``lastDriftCheckAt``, Ready (False, reason Degraded, while a revision that passed
        its health check is Degraded) and Drifted; within a soak period, rolls back a
        revision that turns Degraded, and promotes it to ``lastGoodRevision`` at the end."""
        live = run.manager.read(run.inventory.items())
        results = run.manager.assess(run.inventory, live)
        overall = aggregate(h.status for _, h in results)
        if not run.status.get("lastAppliedRevision"):
            overall = HealthStatus.UNKNOWN  # nothing applied: nothing to call healthy
        status: dict[str, Any] = {"health": overall.value}
        updates: list[ConditionUpdate] = []
        events = _health_events(run, overall, _worst(results, overall))
        wait = min(run.spec.interval, run.spec.drift_interval)
        if not quarantined:
            remaining = soak_remaining(run.status, run.spec.rollback.soak_period, run.now)
            if remaining is not None and overall is HealthStatus.DEGRADED:
                error = HealthCheckError(
                    f"revision {run.revision} turned Degraded within its soak period:"
                    f" {_worst(results, overall)}"
                )
                return Rollback(self, run).handle(error)
            if remaining is not None and remaining <= 0:
                status["lastGoodRevision"] = run.revision
                self.snapshots.retain(run.obj, {sha_of(run.revision)})
                events.append(
                    Event("SoakPassed", f"revision {run.revision} is the last good revision")
                )
            elif remaining is not None:
                wait = min(wait, remaining)
        key = (run.namespace, run.name, str(run.obj["metadata"].get("uid", "")))
        written = str(run.status.get("lastDriftCheckAt") or "")
        last = max(written, self._drift_checked.get(key, ""))
        if seconds_since(last, run.now) >= run.spec.drift_interval:
            desired = self.desired_of(run, run.status.get("lastAppliedRevision", ""))
            if desired is not None:
                drift_outcome = drift_status(run.manager, run, desired, live)
                self._drift_checked[key] = run.now
                status.update(drift_outcome.status)
                if drift_outcome.status.get("drift") == run.status.get("drift") and seconds_since(
                    written, run.now
                ) < max(run.spec.interval, 300.0):
                    # an unchanged result is written at most every interval (and 5m)
                    del status["lastDriftCheckAt"]
                updates += drift_outcome.conditions
                events += drift_outcome.events
        if not quarantined:
            if overall is HealthStatus.DEGRADED:
                updates += failed("Degraded", _worst(results, overall), stalled=False)
            else:
                updates += ready(f"Applied revision: {run.revision}")
        clear = () if quarantined else (ConditionType.RECONCILING, ConditionType.STALLED)
        return Outcome(status, updates, wait, events, clear=clear)

    def desired_of(self, run: ApplicationRun, revision: str) -> list[Manifest] | None:
        """The rendered manifests of an applied revision: its snapshot, else a re-render."""
        if not revision:
            return None
        kept = self.snapshots.load(run.obj, sha_of(revision))
        if kept is not None:
            return kept
        if run.artifact is not None and run.artifact.sha == sha_of(revision):
            return self.render(run, run.artifact)
        return None

    def handled_retry(self, run: ApplicationRun) -> dict[str, Any]:
        retry = run.annotation(RETRY_ANNOTATION)
        return {"lastHandledRetryAt": retry} if retry else {}


def _counts(changes: ChangeSet) -> dict[str, int]:
    return {action: n for action, n in changes.counts().items() if n}


def _counts_of(stored: Any) -> dict[str, int]:
    """Change counts read back from status (a merge patch may have left nulls)."""
    if not isinstance(stored, dict):
        return {}
    return {str(k): int(v) for k, v in stored.items() if isinstance(v, int) and v}


def _as_patch(status: dict[str, Any]) -> dict[str, Any]:
    """``status`` as a merge patch: ``lastAppliedChanges`` replaces the stored counts
    instead of merging into them (absent actions are written as null)."""
    counts = status.get("lastAppliedChanges")
    if not isinstance(counts, dict):
        return status
    return {**status, "lastAppliedChanges": counts_patch(counts)}


def _health_events(run: ApplicationRun, overall: HealthStatus, worst: str) -> list[Event]:
    """An Event when the health of an applied revision turns Degraded or recovers."""
    before = run.status.get("health")
    if overall is HealthStatus.DEGRADED and before != HealthStatus.DEGRADED:
        return [
            Event(
                "HealthDegraded",
                f"{worst}; revision {run.status.get('lastAppliedRevision', '')} stays applied",
                warning=True,
            )
        ]
    if overall is HealthStatus.HEALTHY and before == HealthStatus.DEGRADED:
        return [Event("HealthRecovered", "every object is healthy again")]
    return []


def _worst(results: list[tuple[ObjectRef, Health]], overall: HealthStatus) -> str:
    """The first object in the overall state, with its health message."""
    return next(
        (f"{ref}: {h.message or h.status.value}" for ref, h in results if h.status is overall),
        overall.value,
    )


def _with_namespace(manifest: Manifest, namespace: str) -> Manifest:
    """Put every object in ``namespace``; ``set_namespaces`` then strips cluster-scoped ones."""
    meta = {**(manifest.obj.get("metadata") or {}), "namespace": namespace}
    return Manifest({**manifest.obj, "metadata": meta}, manifest.source)
