"""One pass over one Application: what it has learned so far, and its status writer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import inventory
from ..api import RETRY_ANNOTATION, ApplicationSpec, status_fields
from ..api.substitute import PostBuild
from ..conditions import ConditionUpdate
from ..health_watches import HealthWatches
from ..hooks import Hook
from ..inventory import Inventory
from ..kube import KubeClient
from ..manager import ChangeSet, ResourceManager
from ..objects import KubeObject, Manifest, ObjectRef
from ..source import Artifact
from .health_waits import HealthWaits

Logger = logging.Logger | logging.LoggerAdapter[Any]
StatusWriter = Callable[[dict[str, Any]], None]
"""Merge-patches the Application's status at once (the inventory before any write)."""


@dataclass(slots=True)
class ApplicationRun:
    """Everything one pass over one Application learns, step by step."""

    obj: dict[str, Any]
    spec: ApplicationSpec
    status: dict[str, Any]
    """The status the pass started from; what it writes goes to ``write_status``."""
    now: str
    write_status: StatusWriter
    logger: Logger
    manager: ResourceManager
    """The operator's own manager, or one that impersonates the tenant's ServiceAccount."""
    revision: str = ""
    repo_spec: dict[str, Any] = field(default_factory=dict)
    artifact: Artifact | None = None
    manifests: list[Manifest] = field(default_factory=list)
    inventory: Inventory = field(default_factory=dict)
    """What status.inventory holds now; updated whenever it is written."""
    changes: ChangeSet = field(default_factory=ChangeSet)
    """What this pass's apply of ``revision`` changed."""
    source_failing: ConditionUpdate | None = None
    """SourceReady=False while the GitRepository fails (its last artifact still applies)."""
    warnings: list[tuple[str, str]] = field(default_factory=list)
    """(reason, message) of what this pass refused without failing: posted as Events."""
    post_build: PostBuild = field(default_factory=PostBuild)
    variables: dict[str, str] | None = None
    """The variables of ``spec.postBuild`` (None: no substitution); never logged."""
    substitution_inputs: str = ""
    """Digest of the sources' versions the variables came from (``status.postBuildInputs``)."""
    secret_values: frozenset[str] = frozenset()
    """Values of the variables that came from Secrets: masked in what the pass reports."""
    notes: list[tuple[str, str, bool]] = field(default_factory=list)
    """(reason, message, warning) of what this pass did besides its outcome (a hook that
    started or finished): posted as Events, whatever the outcome."""
    hooks: list[Hook] | None = None
    """The hooks of ``revision``, once rendered."""
    home: KubeClient | None = None
    """The operator's own cluster, with the Application's identity, when ``manager`` is of
    a remote destination: its Secrets and ConfigMaps (substitution sources, chart
    credentials) and other Applications are read there."""
    render_hooks: Callable[[], list[Hook]] | None = None
    """Renders the hooks of ``revision`` (a pass that has not rendered it needs them only
    to create hooks)."""
    drift_asked: bool = False
    """A watch saw another manager change one of its objects: check drift now."""
    seen: dict[ObjectRef, KubeObject] = field(default_factory=dict)
    """The objects as this pass's apply left them (its answers, or what it read)."""
    health_waits: HealthWaits | None = None
    """What earlier passes of a health wait found Healthy (``health_waits``)."""
    health_watch: HealthWatches | None = None
    """What the watches say of the objects this Application applies (``health_watches``);
    None on a remote destination, or without drift watches."""
    pending_status: dict[str, Any] = field(default_factory=dict)
    """Status fields to write with the next write (``defer_status``)."""

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"].get("uid", ""))

    @property
    def home_kube(self) -> KubeClient:
        """Where the Application's own namespace is: ``home``, else the manager's cluster."""
        return self.home or self.manager.kube

    @property
    def generation(self) -> int:
        return int(self.obj["metadata"].get("generation", 0))

    def annotation(self, key: str) -> str:
        return str((self.obj["metadata"].get("annotations") or {}).get(key, ""))

    def record_inventory(self, refs: Inventory) -> None:
        """Write ``status.inventory`` now, if it changes (with what is deferred)."""
        if refs != self.inventory:
            self.write_status(
                {**self.pending_status, status_fields.INVENTORY: inventory.to_status(refs)}
            )
            self.pending_status.clear()
            self.inventory = dict(refs)

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    def expect_health(self, refs: Inventory) -> None:
        """About to apply ``refs``: the watches keep what they see of them from now."""
        if self.health_watch is not None:
            objects = {ref.id: (version, ref.kind) for ref, version in refs.items()}
            self.health_watch.expect(self.key, objects, self.manager.health_rules)

    def defer_status(self, fields: dict[str, Any]) -> None:
        """Write ``fields`` with the next status write: the inventory's before the first
        write to the cluster, else the outcome's, else (the pass raised) on their own."""
        self.pending_status.update(fields)

    def flush_status(self) -> None:
        """Write what is deferred now (a pass that raised)."""
        if self.pending_status:
            self.write_status(dict(self.pending_status))
            self.pending_status.clear()

    @property
    def inputs_changed(self) -> bool:
        """The postBuild sources changed since the last sync rendered with them."""
        return self.variables is not None and (
            self.status.get(status_fields.POST_BUILD_INPUTS) != self.substitution_inputs
        )

    def handled_retry(self) -> dict[str, Any]:
        """``lastHandledRetryAt``: the retryAt request this pass answers, if any."""
        retry = self.annotation(RETRY_ANNOTATION)
        return {status_fields.LAST_HANDLED_RETRY_AT: retry} if retry else {}


DesiredFn = Callable[[ApplicationRun, str], list[Manifest]]
"""The rendered manifests of a revision: its snapshot, else a render of its commit."""
