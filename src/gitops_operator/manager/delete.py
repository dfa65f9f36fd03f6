"""Prune: delete stale objects, highest sync wave first; leave those that opt out; keep
failures in the inventory."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ApiError, NotFoundError
from ..inventory import Inventory
from ..objects import KubeObject, ObjectRef, apply_order_key
from ..sync_options import prune_disabled
from ..waves import live_wave
from .changeset import Action, ChangeSet, ChangeSetEntry
from .workers import Workers


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune did: ``changes`` (deleted, or skipped and disowned), the
    ``survivors`` of failed deletes (they stay in the inventory) and why each failed."""

    changes: ChangeSet = field(default_factory=ChangeSet)
    survivors: Inventory = field(default_factory=dict)
    failures: Mapping[ObjectRef, ApiError] = field(default_factory=dict)

    def messages(self) -> list[str]:
        """One ``Kind/ns/name: why`` line per survivor."""
        return [f"{ref}: {error}" for ref, error in self.failures.items()]


def delete_all(workers: Workers, stale: Inventory) -> PruneResult:
    """Delete every object of ``stale`` (dependents in the background) in reverse sync-wave
    order, highest wave first, each wave in reverse apply order; except those annotated
    ``gitops-operator.dev/prune: disabled`` or Argo CD's ``Prune=false``, which are left
    and disowned. The deletes of one wave are issued once the higher wave's were."""

    def read(item: tuple[ObjectRef, str]) -> KubeObject | ApiError | None:
        ref, version = item
        try:
            return workers.kube.get(version, ref)
        except NotFoundError:
            return None  # its kind is gone too: nothing is left to delete
        except ApiError as exc:
            return exc

    def delete(item: tuple[ObjectRef, str]) -> Action | ApiError:
        ref, version = item
        try:
            workers.kube.delete(version, ref)
            workers.in_sync.forget(ref)
        except NotFoundError:
            pass
        except ApiError as exc:
            return exc
        return Action.DELETED

    items = sorted(stale.items(), key=lambda i: apply_order_key(i[0]), reverse=True)
    live = dict(zip(items, workers.map(read, items), strict=True))
    outcome: dict[tuple[ObjectRef, str], Action | ApiError] = {}
    to_delete: list[tuple[int, tuple[ObjectRef, str]]] = []
    for item, found in live.items():
        if found is None or isinstance(found, ApiError):
            outcome[item] = Action.DELETED if found is None else found
        elif prune_disabled(found):
            outcome[item] = Action.SKIPPED
        else:
            to_delete.append((live_wave(found), item))
    for _, group in itertools.groupby(sorted(to_delete, key=lambda w: -w[0]), key=lambda w: w[0]):
        batch = [item for _, item in group]
        outcome.update(zip(batch, workers.map(delete, batch), strict=True))
    results = [(item, outcome[item]) for item in items]
    return PruneResult(
        changes=ChangeSet(
            tuple(ChangeSetEntry(ref, r) for (ref, _), r in results if isinstance(r, Action))
        ),
        survivors={ref: v for (ref, v), r in results if isinstance(r, ApiError)},
        failures={ref: r for (ref, _), r in results if isinstance(r, ApiError)},
    )
