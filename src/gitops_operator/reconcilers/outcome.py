"""What a reconcile hands back to the controller to write: status, conditions, events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conditions import TRANSIENT, ConditionType, ConditionUpdate
from ..manager import Action


@dataclass(frozen=True, slots=True)
class Event:
    reason: str
    message: str
    warning: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished reconcile: status fields to merge, conditions, events, next run."""

    status: dict[str, Any]
    conditions: list[ConditionUpdate]
    requeue_after: float
    events: list[Event] = field(default_factory=list)
    clear: tuple[ConditionType, ...] = TRANSIENT
    """Conditions removed unless this outcome sets them."""


def counts_patch(counts: Mapping[str, int]) -> dict[str, int | None]:
    """Change counts as a merge patch of ``status.lastAppliedChanges``: every action named,
    absent ones as null, so the stored counts are replaced rather than merged into."""
    return {action.value: counts.get(action.value) or None for action in Action}
