"""The apply-and-prune steps, shared by a sync and a rollback's restore: all at once, or
wave by wave (the first wave, each later wave, then the prune)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import inventory
from ..errors import PruneError
from ..inventory import Inventory
from ..manager import ChangeSet, PruneResult
from ..objects import Manifest
from ..waves import Waves
from .run import ApplicationRun


@dataclass(frozen=True, slots=True)
class Applied:
    changes: ChangeSet
    """What was created, configured, left unchanged and deleted."""
    prune_error: PruneError | None = None
    """Set when some stale objects could not be deleted; they stay in the inventory."""


def apply_and_prune(
    run: ApplicationRun, manifests: list[Manifest], gate: Callable[[], None] = lambda: None
) -> Applied:
    """Validate and apply ``manifests`` (``gate`` runs after validation, then
    ``status.inventory``, old and new, is written before the first write), then delete
    what the inventory has and they lack, when ``spec.prune``. Raises what validation,
    ``gate`` or a write raised; nothing is pruned then."""
    desired = inventory.of_manifests(manifests)
    changes = run.manager.apply_all(
        manifests,
        ignore=run.spec.ignore_differences,
        before_write=lambda: _before_write(run, gate, desired),
        new=desired.keys() - run.inventory.keys(),
        seen=run.seen,
    )
    return prune(run, desired, changes)


def apply_first_wave(
    run: ApplicationRun,
    manifests: list[Manifest],
    waves: Waves,
    gate: Callable[[], None] = lambda: None,
) -> ChangeSet:
    """Validate every object of every wave, run ``gate``, record the inventory (old and
    every wave's), then write the CRDs and Namespaces and the first wave. Nothing is
    pruned."""
    desired = inventory.of_manifests(manifests)
    return run.manager.apply_all(
        manifests,
        ignore=run.spec.ignore_differences,
        before_write=lambda: _before_write(run, gate, desired),
        hold=waves.held_after(waves.first),
        new=desired.keys() - run.inventory.keys(),
        seen=run.seen,
    )


def apply_wave(
    run: ApplicationRun, manifests: list[Manifest], waves: Waves, wave: int
) -> ChangeSet:
    """Validate and write the objects of ``wave`` (the earlier waves are applied and
    healthy): a refusal now fails a revision that is already partly applied."""
    members = waves.in_wave(wave)
    return run.manager.apply_all(
        [m for m in manifests if m.ref in members],
        ignore=run.spec.ignore_differences,
        before_write=lambda: None,
        written_before=f"the waves before {wave}",
    )


def _before_write(run: ApplicationRun, gate: Callable[[], None], desired: Inventory) -> None:
    gate()  # PreSync hooks: they may stop the apply before its first write
    run.record_inventory(inventory.union(run.inventory, desired))
    run.expect_health(desired)


def prune(run: ApplicationRun, desired: Inventory, changes: ChangeSet | None = None) -> Applied:
    """Delete what the inventory has and ``desired`` lacks, when ``spec.prune`` (highest
    wave first); record the inventory as ``desired`` and the survivors of failed deletes."""
    stale = inventory.stale(run.inventory, desired) if run.spec.prune else {}
    pruned = run.manager.delete_all(stale) if stale else PruneResult()
    changes = (changes or ChangeSet()) + pruned.changes
    run.record_inventory(inventory.union(pruned.survivors, desired))
    if not pruned.survivors:
        return Applied(changes)
    error = PruneError(
        f"{len(pruned.survivors)} object(s) could not be deleted: "
        + "; ".join(pruned.messages()[:3])
    )
    return Applied(changes, error)
