"""The one apply-and-prune step, shared by a sync and a rollback's restore."""

from __future__ import annotations

from dataclasses import dataclass

from .. import inventory
from ..errors import PruneError
from ..manager import ChangeSet, PruneResult
from ..objects import Manifest
from .run import ApplicationRun


@dataclass(frozen=True, slots=True)
class Applied:
    changes: ChangeSet
    """What was created, configured, left unchanged and deleted."""
    prune_error: PruneError | None = None
    """Set when some stale objects could not be deleted; they stay in the inventory."""


def apply_and_prune(run: ApplicationRun, manifests: list[Manifest]) -> Applied:
    """Validate and apply ``manifests`` (``status.inventory``, old and new, is written
    before the first write), then delete what the inventory has and they lack, when
    ``spec.prune``. Raises what validation or a write raised; nothing is pruned then."""
    desired = inventory.of_manifests(manifests)
    changes = run.manager.apply_all(
        manifests,
        ignore=run.spec.ignore_differences,
        before_write=lambda: run.record_inventory(inventory.union(run.inventory, desired)),
    )
    stale = inventory.stale(run.inventory, desired) if run.spec.prune else {}
    pruned = run.manager.delete_all(stale) if stale else PruneResult()
    changes = changes + pruned.changes
    run.record_inventory(inventory.union(pruned.survivors, desired))
    if not pruned.survivors:
        return Applied(changes)
    error = PruneError(
        f"{len(pruned.survivors)} object(s) could not be deleted: "
        + "; ".join(pruned.messages()[:3])
    )
    return Applied(changes, error)
