"""Prune: delete stale objects, leave those that opt out, keep failures in the inventory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..api import PRUNE_ANNOTATION
from ..errors import ApiError, NotFoundError
from ..inventory import Inventory
from ..objects import ObjectRef, apply_order_key
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
    """Delete every object of ``stale`` (dependents in the background), in reverse apply
    order, except those annotated ``gitops-operator.dev/prune: disabled``, which are left
    and disowned."""

    def delete(item: tuple[ObjectRef, str]) -> Action | ApiError:
        ref, version = item
        try:
            live = workers.kube.get(version, ref)
            if live is None:
                return Action.DELETED
            annotations = (live.get("metadata") or {}).get("annotations") or {}
            if annotations.get(PRUNE_ANNOTATION) == "disabled":
                return Action.SKIPPED
            workers.kube.delete(version, ref)
            workers.in_sync.forget(ref)
        except NotFoundError:
            pass  # its kind is gone too: nothing is left to delete
        except ApiError as exc:
            return exc
        return Action.DELETED

    items = sorted(stale.items(), key=lambda i: apply_order_key(i[0]), reverse=True)
    results = list(zip(items, workers.map(delete, items), strict=True))
    return PruneResult(
        changes=ChangeSet(
            tuple(ChangeSetEntry(ref, r) for (ref, _), r in results if isinstance(r, Action))
        ),
        survivors={ref: v for (ref, v), r in results if isinstance(r, ApiError)},
        failures={ref: r for (ref, _), r in results if isinstance(r, ApiError)},
    )
