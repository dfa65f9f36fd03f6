"""Reconcile an Application: the dispatch of each pass, and where failures go.

Each pass reads the Application and its source afresh and takes one of four paths
(``decisions`` holds each choice as a pure function):

- sync (``sync.py``): a new revision, a spec change or a requestedAt: once every
  Application of ``spec.dependsOn`` is Ready (``dependencies.py``), render, validate
  (dry-run), record the inventory, apply in stages, prune, then assess health;
- health (``sync.check_health``): the applied revision has not yet been healthy: assess
  again until healthTimeout (measured from when it was applied);
- steady (``drift.steady``): nothing new: refresh health, check drift when due, correct it
  with selfHeal. A revision that has been healthy once is never failed by health again;
  within an opt-in soak period, turning Degraded still rolls it back;
- quarantine: the source points at a revision that failed: leave the cluster as the last
  good revision left it until a new commit, a spec change or the retryAt annotation.

A failed revision goes one way (``revision_failed``): rolled back (``rollback.py``) when
``decisions.should_roll_back`` says so, quarantined in every case.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from .. import inventory
from ..api import (
    REQUESTED_AT_ANNOTATION,
    RETRY_ANNOTATION,
    ROLLBACK_AT_ANNOTATION,
    ROLLBACK_TO_ANNOTATION,
    DependencyRef,
    HealthCheckExpr,
    parse_application_spec,
    sha_of,
    status_fields,
)
from ..api.destination import LOCAL, Destination, parse_destination
from ..api.substitute import parse_post_build
from ..conditions import ConditionType, ConditionUpdate
from ..config import Settings
from ..errors import (
    GitOpsError,
    HealthCheckError,
    StalledError,
)
from ..health import HealthStatus, application_rules, operator_health_checks
from ..health_watches import HealthWatches
from ..hooks import Hook, split_hooks
from ..kube import KubeClient
from ..manager import ResourceManager
from ..objects import Manifest
from ..render import RenderTools, render
from ..source import Artifact, GitSource
from ..substitute import mask_values, substitute_manifests
from ..sync_options import check_sync_annotations
from . import sync_fail
from .accounts import account_exists, require_account, service_account_user
from .decisions import (
    drift_due,
    health_check_passed,
    health_may_recover,
    quarantined,
    rollback_requested,
    settled,
    should_roll_back,
)
from .dependencies import check_namespaces, wait_for_dependencies
from .destinations import DestinationClients, unreachable
from .drift import steady
from .git_revert import requested, step
from .health_waits import HealthWaits
from .helm_inputs import chart_credentials, cluster_capabilities
from .outcome import Event, Outcome, masked, quarantine
from .revert_jobs import GitReverts
from .rollback import Rollback
from .run import ApplicationRun, Logger, StatusWriter
from .snapshots import SnapshotOutsideRulesError, SnapshotStore
from .sources import artifact, fetch_source
from .substitutions import load_variables
from .sync import check_health, sync
from .unaffected import InputsSeen, record_pass, remember_inputs, unaffected


@dataclass(frozen=True, slots=True)
class ApplicationReconciler:
    kube: KubeClient
    git: GitSource
    manager: ResourceManager
    tools: RenderTools
    snapshots: SnapshotStore
    default_service_account: str = ""
    no_cross_namespace_refs: bool = False
    default_health_checks: tuple[HealthCheckExpr, ...] = ()
    """Operator-wide health rules in CEL (``GITOPS_HEALTH_CHECK_EXPRS``)."""
    repositories: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """GitRepositories as last seen by the operator's watch, by (namespace, name); a
    repository not in it is read from the API server."""
    dependencies: dict[DependencyRef, tuple[DependencyRef, ...]] = field(default_factory=dict)
    """Every Application's spec.dependsOn, as last seen by the operator's watch."""
    _drift_checked: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """When drift was last checked, by (namespace, name, uid): status.lastDriftCheckAt
    is written only when the result changes, or at most every interval."""
    destinations: DestinationClients = field(default_factory=DestinationClients)
    """Clients of the clusters of ``spec.destination`` (none: this one)."""
    drift_asked: dict[tuple[str, str], bool] = field(default_factory=dict)  # drift_watches
    git_reverts: GitReverts = field(default_factory=GitReverts)
    """The reverts of rolled-back revisions being pushed (``git_revert``)."""
    inputs_seen: dict[tuple[str, str], InputsSeen] = field(default_factory=dict)
    """What each Application's render reads, for deciding which a commit wakes."""
    health_waits: HealthWaits = field(default_factory=HealthWaits)
    """The objects found Healthy in each Application's health wait so far."""
    health_watches: HealthWatches = field(default_factory=lambda: HealthWatches(lambda app: None))
    """Health waits answered by the drift watches' streams (``health_watches``): none
    until the controller connects the two."""
    _tenants: dict[str, ResourceManager] = field(default_factory=dict)
    _tenants_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(
        cls, kube: KubeClient, git: GitSource, settings: Settings
    ) -> ApplicationReconciler:
        """The reconciler the operator runs, also used by the CLI's diff. Raises
        ``InvalidSpecError`` when the operator-wide health rules do not parse or compile."""
        health_checks = operator_health_checks(settings.health_check_exprs)
        return cls(
            kube,
            git,
            ResourceManager(kube, settings.apply_concurrency),
            RenderTools.from_settings(settings),
            SnapshotStore(kube),
            default_service_account=settings.default_service_account,
            no_cross_namespace_refs=settings.no_cross_namespace_refs,
            default_health_checks=health_checks,
        )

    def manager_for(
        self, namespace: str, service_account: str, destination: Destination = LOCAL
    ) -> ResourceManager:
        """Every dry-run, apply, read and delete of an Application goes through this
        manager: the Application's ServiceAccount (its own, else the default one),
        impersonated; the operator's own only when neither is set. On a remote
        ``destination`` the same account is impersonated there (the kubeconfig's own
        identity when there is none)."""
        account = service_account or self.default_service_account
        if destination.remote:
            user = service_account_user(namespace, account) if account else ""
            concurrency = self.manager.concurrency
            return self.destinations.manager(self.kube, namespace, destination, user, concurrency)
        if not account:
            return self.manager
        user = service_account_user(namespace, account)
        with self._tenants_lock:
            if user not in self._tenants:
                self._tenants[user] = ResourceManager(
                    self.kube.impersonating(user), self.manager.concurrency
                )
            return self._tenants[user]

    def missing_account(self, namespace: str, service_account: str) -> str | None:
        """The account the Application acts as, when it is known not to exist."""
        account = service_account or self.default_service_account
        if account and account_exists(self.kube, namespace, account) is False:
            return account
        return None

    def forget(self, namespace: str, name: str) -> None:
        """Drop what is remembered about a deleted Application."""
        for key in [k for k in self._drift_checked if k[:2] == (namespace, name)]:
            self._drift_checked.pop(key, None)
        self.drift_asked.pop((namespace, name), None)
        self.snapshots.forget(namespace, name)
        self.git_reverts.forget(namespace, name)
        self.inputs_seen.pop((namespace, name), None)
        self.health_waits.forget(namespace, name)
        self.health_watches.forget((namespace, name))

    def reconcile(
        self, obj: dict[str, Any], *, write_status: StatusWriter, now: str, logger: Logger
    ) -> Outcome:
        """One pass; raises ``GitOpsError`` only for transient or spec problems, which
        never prune anything. Sets SourceReady=False while the source fails."""
        spec = parse_application_spec(obj.get("spec") or {}, obj["metadata"]["namespace"])
        if spec.suspend:
            suspended = ConditionUpdate(
                ConditionType.READY, True, "Suspended", "reconciliation is suspended"
            )
            return Outcome({}, [suspended], spec.interval)
        status = dict(obj.get("status") or {})
        namespace = str(obj["metadata"]["namespace"])
        # compiled here, before anything is applied: InvalidHealthCheck stops the pass
        rules = application_rules(self.default_health_checks, spec.health_check_exprs)
        require_account(self.kube, namespace, spec.service_account, self.default_service_account)
        destination = parse_destination(obj.get("spec") or {})
        home = self.manager_for(namespace, spec.service_account)
        with unreachable(destination, namespace):
            manager = self.manager_for(namespace, spec.service_account, destination)
            if destination.remote:
                remote = self.destinations.client(self.kube, namespace, destination)
                require_account(
                    remote, namespace, spec.service_account, self.default_service_account
                )
        run = ApplicationRun(
            obj,
            spec,
            status,
            now,
            write_status,
            logger,
            manager.with_health_rules(rules),
            inventory=inventory.from_status(status),
            home=home.kube if destination.remote else None,
            drift_asked=self.drift_asked.pop((namespace, str(obj["metadata"]["name"])), False),
            health_waits=self.health_waits,
            health_watch=None if destination.remote else self.health_watches,
        )
        self.load_post_build(run)
        self.fetch_source(run)
        run.render_hooks = lambda: self._hooks(run)
        try:
            with unreachable(destination, namespace):
                outcome = self._dispatch(run)
        except GitOpsError as exc:
            # an API server's refusal may quote a field's value: one from a Secret
            exc.args = (mask_values(exc.message, run.secret_values),)
            with contextlib.suppress(GitOpsError):  # the pass's own error is the one to report
                run.flush_status()
            raise
        except Exception:
            with contextlib.suppress(GitOpsError):
                run.flush_status()
            raise
        if run.pending_status:  # deferred fields go with the outcome's write
            outcome = replace(outcome, status={**run.pending_status, **outcome.status})
        remember_inputs(run, self.inputs_seen)
        outcome = step(run, outcome, self.git, self.git_reverts)
        if run.notes:
            notes = [Event(reason, message, warning) for reason, message, warning in run.notes]
            outcome = replace(outcome, events=[*notes, *outcome.events])
        outcome = masked(outcome, run.secret_values)
        if run.warnings:
            events = [Event(reason, message, warning=True) for reason, message in run.warnings]
            outcome = replace(outcome, events=[*outcome.events, *events])
        if run.source_failing is not None:
            return replace(outcome, conditions=[*outcome.conditions, run.source_failing])
        return replace(outcome, clear=(*outcome.clear, ConditionType.SOURCE_READY))

    @staticmethod
    def load_post_build(run: ApplicationRun) -> None:
        """Sets ``run.post_build`` and, when it substitutes, the variables read from its
        sources with the run's identity. Raises ``SubstituteSourceNotFoundError``."""
        run.post_build = parse_post_build(run.obj.get("spec") or {})
        if run.post_build.enabled:
            variables = load_variables(run.home_kube, run.namespace, run.post_build)
            run.variables, run.substitution_inputs = variables.values, variables.inputs
            run.secret_values = variables.secret_values

    def _dispatch(self, run: ApplicationRun) -> Outcome:
        rollback_at = run.annotation(ROLLBACK_AT_ANNOTATION)
        rollback_to = run.annotation(ROLLBACK_TO_ANNOTATION)
        if rollback_requested(run.status, rollback_at, rollback_to):
            return Rollback(run, self.desired).manual(rollback_to, rollback_at)
        if not run.inputs_changed and quarantined(
            run.status, run.revision, run.generation, run.annotation(RETRY_ANNOTATION)
        ):
            if health_may_recover(run.status, run.revision) and (late := self._healthy_late(run)):
                return late
            held = steady(run, self.desired, self.snapshots, self._drift_checked, quarantined=True)
            return sync_fail.resume(run, held)
        requested = run.annotation(REQUESTED_AT_ANNOTATION)
        skipped = unaffected(run, self.git.changed_paths, self.inputs_seen) or {}
        if skipped and not run.drift_asked and not self._drift_due(run):
            return record_pass(run, skipped)  # a revision that changes nothing for it
        run.status.update(skipped)
        if not run.inputs_changed and settled(run.status, run.revision, run.generation, requested):
            try:
                if not health_check_passed(run.status):
                    return check_health(run, self.snapshots, self.desired)
                held = steady(run, self.desired, self.snapshots, self._drift_checked)
                return replace(held, status={**skipped, **held.status})
            except (StalledError, HealthCheckError) as exc:
                return self.revision_failed(run, exc)
        check_namespaces(run, self.no_cross_namespace_refs)
        waiting = wait_for_dependencies(run, self.dependencies, self.repositories)
        if waiting is not None:
            return waiting
        try:
            return sync(run, self.rendered, self.snapshots, self.desired)
        except (StalledError, HealthCheckError) as exc:
            return self.revision_failed(run, exc)

    def _drift_due(self, run: ApplicationRun) -> bool:
        """A drift check is due in this pass (``drift.steady`` makes it): a revision that
        changes nothing for the Application is then recorded in the same status write."""
        written = str(run.status.get(status_fields.LAST_DRIFT_CHECK_AT) or "")
        checked = self._drift_checked.get((run.namespace, run.name, run.uid), "")
        return drift_due(checked, written, run.now, run.spec.drift_interval)

    def _healthy_late(self, run: ApplicationRun) -> Outcome | None:
        """The outcome of a health check passed after it had failed (the revision leaves
        quarantine and is good, once its Sync and PostSync hooks have passed), or None
        while it is not Healthy."""
        try:
            outcome = check_health(run, self.snapshots, self.desired)
        except HealthCheckError:
            return None
        if outcome.status.get(status_fields.HEALTH) != HealthStatus.HEALTHY.value:
            return None
        if not outcome.status.get(status_fields.HEALTHY_AT):
            return outcome  # its Sync or PostSync hooks run first (health_may_recover)
        late = Event(
            "HealthRecovered",
            f"revision {run.revision} turned healthy after its health check failed;"
            " it is no longer quarantined",
            revision=run.revision,
        )
        return replace(outcome, events=[late, *outcome.events])

    def revision_failed(self, run: ApplicationRun, error: GitOpsError) -> Outcome:
        """Every failure of the source's revision comes here: rolled back to the last good
        revision when ``should_roll_back`` says so, quarantined either way; then its SyncFail
        hooks run (``sync_fail``)."""
        if should_roll_back(error, run.spec.rollback, run.status, run.revision):
            rolled_back = Rollback(run, self.desired).to_last_good(error)
            return sync_fail.start(run, requested(run, rolled_back))
        return sync_fail.start(run, quarantine(run, error))

    def fetch_source(self, run: ApplicationRun) -> None:
        """Sets ``run.revision``, ``run.artifact`` and ``run.source_failing``
        (``sources.fetch_source``)."""
        fetch_source(
            run,
            self.kube,
            self.git,
            self.repositories.get((run.spec.source.namespace, run.spec.source.name)),
            no_cross_namespace_refs=self.no_cross_namespace_refs,
        )

    def artifact(self, namespace: str, repo_spec: dict[str, Any], sha: str) -> Artifact:
        """The tree of ``sha`` (``sources.artifact``)."""
        return artifact(self.kube, self.git, namespace, repo_spec, sha)

    def render(self, run: ApplicationRun, artifact: Artifact) -> list[Manifest]:
        """The objects ``rendered`` gives, without the hooks."""
        return self.rendered(run, artifact)[0]

    def _hooks(self, run: ApplicationRun) -> list[Hook]:
        assert run.artifact is not None  # fetch_source set it, or raised
        return self.rendered(run, run.artifact)[1]

    def rendered(
        self, run: ApplicationRun, artifact: Artifact
    ) -> tuple[list[Manifest], list[Hook]]:
        """Render the Application's path of ``artifact``, put every object in its
        namespace (targetNamespace, else the Application's, for namespaced kinds) and
        set the hooks apart (``hooks.split_hooks``)."""
        manifests = render(
            artifact.path,
            run.spec.path,
            run.spec.render,
            tools=self.tools,
            release_name=run.spec.render.helm.release_name or run.name,
            namespace=run.spec.target_namespace or run.namespace,
            capabilities=cluster_capabilities(run.manager.kube if run.home else self.kube),
            credentials=chart_credentials(run.home_kube, run.namespace, run.spec.render.helm),
        )
        if run.variables is not None:
            manifests = substitute_manifests(manifests, run.variables, strict=run.post_build.strict)
        manifests = check_sync_annotations(manifests)
        if run.spec.target_namespace:
            manifests = [m.in_namespace(run.spec.target_namespace) for m in manifests]
        return split_hooks(
            run.manager.set_namespaces(manifests, run.spec.target_namespace or run.namespace)
        )

    def desired(self, run: ApplicationRun, revision: str) -> list[Manifest]:
        """The rendered manifests of ``revision``: its snapshot, else (or when the snapshot
        breaks the Application's rules) a render of its commit (from the artifact cache,
        else fetched by SHA)."""
        sha = sha_of(revision)
        try:
            kept = self.snapshots.load(run.obj, sha, run.inventory)
        except SnapshotOutsideRulesError as exc:
            message = f"{exc.message}: not applied, and dropped; {sha[:12]} is rendered from Git"
            run.logger.warning("%s", message)
            run.warnings.append((exc.reason, message))
            self.snapshots.discard(run.obj, sha)
            kept = None
        if kept is not None:
            return kept
        artifact = run.artifact
        if artifact is None or artifact.sha != sha:
            artifact = self.artifact(run.spec.source.namespace, run.repo_spec, sha)
        return self.render(run, artifact)
