"""Reconcile an Application: source, render, validate, record inventory, apply, prune."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import inventory
from ..api import (
    API_VERSION,
    GROUP,
    REPOSITORY_KIND,
    ApplicationSpec,
    parse_application_spec,
    parse_repository_spec,
)
from ..conditions import ConditionType, ConditionUpdate, ready
from ..errors import PruneError, SourceNotReadyError, StalledError
from ..history import SyncResult, record
from ..inventory import Inventory
from ..kube import KubeClient
from ..manager import ChangeSet, ResourceManager
from ..objects import Manifest, ObjectRef
from ..render import render
from ..source import Artifact, GitSource
from .outcome import Event, Outcome

Logger = logging.Logger | logging.LoggerAdapter[Any]
StatusWriter = Callable[[dict[str, Any]], None]


@dataclass(slots=True)
class ApplicationRun:
    """Everything one reconcile of one Application learns, step by step."""

    namespace: str
    name: str
    spec: ApplicationSpec
    status: dict[str, Any]
    revision: str = ""
    artifact: Artifact | None = None
    manifests: list[Manifest] = field(default_factory=list)
    old_inventory: Inventory = field(default_factory=dict)
    changes: ChangeSet = field(default_factory=ChangeSet)


@dataclass(frozen=True, slots=True)
class ApplicationReconciler:
    kube: KubeClient
    git: GitSource
    manager: ResourceManager

    def reconcile(
        self,
        obj: dict[str, Any],
        *,
        write_status: StatusWriter,
        now: str,
        logger: Logger,
    ) -> Outcome:
        """Run the steps in order; a raised ``GitOpsError`` stops the run with nothing
        pruned. ``write_status`` records the inventory before the first write."""
        meta = obj["metadata"]
        spec = parse_application_spec(obj.get("spec") or {}, meta["namespace"])
        status = dict(obj.get("status") or {})
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
        run = ApplicationRun(meta["namespace"], meta["name"], spec, status)
        run.old_inventory = inventory.from_status(status)
        self.fetch_source(run)
        write_status({"lastAttemptedRevision": run.revision})
        self.render_manifests(run)
        self.apply(run, write_status)
        self.prune(run, write_status, logger)
        return self.succeeded(run, now)

    def fetch_source(self, run: ApplicationRun) -> None:
        """Sets ``run.revision`` and ``run.artifact`` from the GitRepository's artifact.

        Raises ``SourceNotReadyError`` while the repository has none yet."""
        source = run.spec.source
        ref = ObjectRef(GROUP, REPOSITORY_KIND, source.namespace, source.name)
        repo = self.kube.get(API_VERSION, ref)
        if repo is None:
            raise SourceNotReadyError(f"{ref} not found", requeue_after=10.0)
        published = (repo.get("status") or {}).get("artifact") or {}
        if not published.get("sha"):
            raise SourceNotReadyError(f"{ref} has no artifact yet", requeue_after=5.0)
        repo_spec = parse_repository_spec(repo.get("spec") or {})
        run.revision = str(published["revision"])
        run.artifact = self.git.artifact(published["sha"]) or self.git.fetch(
            repo_spec.url, repo_spec.ref, published["sha"], timeout=repo_spec.timeout
        )

    def render_manifests(self, run: ApplicationRun) -> None:
        """Sets ``run.manifests``: rendered, namespaced. An empty render that would prune
        everything is refused unless ``spec.allowEmpty``."""
        assert run.artifact is not None
        manifests = render(run.artifact.path, run.spec.path, run.spec.render)
        if run.spec.target_namespace:
            manifests = [_with_namespace(m, run.spec.target_namespace) for m in manifests]
        run.manifests = self.manager.set_namespaces(
            manifests, run.spec.target_namespace or run.namespace
        )
        if not run.manifests and run.old_inventory and run.spec.prune and not run.spec.allow_empty:
            raise StalledError(
                f"revision {run.revision} renders no objects; refusing to prune the"
                f" {len(run.old_inventory)} objects of the inventory (set spec.allowEmpty"
                " to allow it)",
                reason="EmptyRender",
            )

    def apply(self, run: ApplicationRun, write_status: StatusWriter) -> None:
        """Dry-run every object, record the old and new inventory together, then apply in stages."""
        desired = inventory.of_manifests(run.manifests)
        union = inventory.union(run.old_inventory, desired)

        def record_inventory() -> None:
            if union != run.old_inventory:
                write_status({"inventory": inventory.to_status(union)})

        run.changes = self.manager.apply_all(run.manifests, before_write=record_inventory)

    def prune(self, run: ApplicationRun, write_status: StatusWriter, logger: Logger) -> None:
        """Delete what the old inventory has and the new render lacks (if ``spec.prune``);
        survivors of a failed delete stay in the inventory."""
        desired = inventory.of_manifests(run.manifests)
        stale = inventory.stale(run.old_inventory, desired) if run.spec.prune else {}
        survivors: Inventory = {}
        if stale:
            deleted, survivors, messages = self.manager.delete_all(stale)
            run.changes = run.changes + deleted
            logger.info("pruned %d object(s)", len(deleted.entries))
        final = inventory.union(survivors, desired)
        write_status({"inventory": inventory.to_status(final)})
        if survivors:
            raise PruneError(
                f"{len(survivors)} object(s) could not be deleted: " + "; ".join(messages[:3])
            )

    def succeeded(self, run: ApplicationRun, now: str) -> Outcome:
        message = f"Applied revision: {run.revision}"
        history = record(
            list(run.status.get("history") or []),
            {
                "revision": run.revision,
                "result": SyncResult.SUCCEEDED.value,
                "finishedAt": now,
                "changes": {k: v for k, v in run.changes.counts().items() if v},
            },
        )
        changed = any(e.action.value != "unchanged" for e in run.changes.entries)
        events = [Event("ReconciliationSucceeded", f"{message} ({run.changes.summary()})")]
        return Outcome(
            {
                "sync": "Synced",
                "lastAppliedRevision": run.revision,
                "lastAttemptedRevision": run.revision,
                "history": history,
            },
            ready(message),
            run.spec.interval,
            events if changed else [],
        )


def _with_namespace(manifest: Manifest, namespace: str) -> Manifest:
    """Put every object in ``namespace``; ``set_namespaces`` then strips cluster-scoped ones."""
    meta = {**(manifest.obj.get("metadata") or {}), "namespace": namespace}
    return Manifest({**manifest.obj, "metadata": meta}, manifest.source)
