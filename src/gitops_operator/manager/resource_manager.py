"""``ResourceManager``: the verbs of this package behind one object per client."""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from ..api import IgnoreRule
from ..health import NO_RULES, Health, HealthRules
from ..inventory import Inventory
from ..kube import KubeClient
from ..live import Live
from ..objects import KubeObject, Manifest, ObjectRef
from . import apply, delete, diff, plan, wait
from .changeset import ChangeSet
from .delete import PruneResult
from .diff import Drift
from .plan import Plan
from .workers import Workers


@dataclass(slots=True)
class ResourceManager:
    """Applies, diffs, prunes and assesses objects with ``kube`` (one per identity: an
    impersonating client gets its own manager), ``concurrency`` calls at a time."""

    kube: KubeClient
    concurrency: int = 8
    health_rules: HealthRules = NO_RULES
    """Health rules in CEL by kind (``spec.healthCheckExprs`` and the operator's)."""
    _workers: Workers = field(init=False)

    def __post_init__(self) -> None:
        self._workers = Workers(self.kube, self.concurrency)

    def with_health_rules(self, rules: HealthRules) -> ResourceManager:
        """This manager (same client, pool and known-in-sync memory) assessing health with
        ``rules``: one Application's view of a manager its ServiceAccount shares."""
        if rules is self.health_rules:
            return self
        view = copy.copy(self)
        view.health_rules = rules
        return view

    def read(self, items: Iterable[tuple[ObjectRef, str]]) -> dict[ObjectRef, Live]:
        """The live state of every ``(ref, apiVersion)``."""
        return self._workers.read(items)

    def read_recent(
        self, items: Iterable[tuple[ObjectRef, str]], max_age: float
    ) -> dict[ObjectRef, Live]:
        """The live state of every ``(ref, apiVersion)``, from a recent shared LIST where
        it holds them as last applied or verified (``Workers.read_recent``)."""
        return self._workers.read_recent(items, max_age)

    def set_namespaces(self, manifests: list[Manifest], default_namespace: str) -> list[Manifest]:
        """Namespaced objects get ``default_namespace`` if they have none; others none."""
        return apply.set_namespaces(self.kube, manifests, default_namespace)

    def apply_all(
        self,
        manifests: list[Manifest],
        *,
        before_write: Callable[[], None],
        ignore: tuple[IgnoreRule, ...] = (),
        hold: Collection[ObjectRef] = (),
        written_before: str = "",
        new: Collection[ObjectRef] = (),
        seen: dict[ObjectRef, KubeObject] | None = None,
    ) -> ChangeSet:
        """Validate every object, call ``before_write``, then apply in stages all but
        ``hold`` (later sync waves); ``new`` and ``seen`` as ``apply.apply_all`` says."""
        return apply.apply_all(
            self._workers,
            manifests,
            before_write=before_write,
            ignore=ignore,
            hold=hold,
            written_before=written_before,
            new=new,
            seen=seen,
        )

    def diff_all(
        self,
        manifests: list[Manifest],
        ignore: tuple[IgnoreRule, ...] = (),
        live: Mapping[ObjectRef, Live] | None = None,
    ) -> list[Drift]:
        """The objects whose live state differs from ``manifests``."""
        return diff.diff_all(self._workers, manifests, ignore, live)

    def plan_all(
        self,
        manifests: list[Manifest],
        ignore: tuple[IgnoreRule, ...] = (),
        stale: Mapping[ObjectRef, str] | None = None,
    ) -> Plan:
        """What applying ``manifests`` (and pruning ``stale``) would change: a dry run of
        each object, nothing written."""
        return plan.plan_all(self._workers, manifests, ignore, stale)

    def delete_all(self, stale: Inventory) -> PruneResult:
        """Prune ``stale``; failures are reported, never raised."""
        return delete.delete_all(self._workers, stale)

    def assess(
        self, inventory: Inventory, live: Mapping[ObjectRef, Live] | None = None
    ) -> list[tuple[ObjectRef, Health]]:
        """The health of every inventoried object, by ``health_rules`` where they apply."""
        return wait.assess_all(self._workers, inventory, live, self.health_rules)
