"""What a verb did to each object: created, configured, unchanged, deleted or skipped."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..objects import ObjectRef


class Action(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class ChangeSetEntry:
    ref: ObjectRef
    action: Action


@dataclass(frozen=True, slots=True)
class ChangeSet:
    entries: tuple[ChangeSetEntry, ...] = ()

    def __add__(self, other: ChangeSet) -> ChangeSet:
        return ChangeSet(self.entries + other.entries)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((a.value for a in Action), 0)
        for entry in self.entries:
            counts[entry.action.value] += 1
        return counts

    @property
    def changed(self) -> bool:
        return any(e.action is not Action.UNCHANGED for e in self.entries)

    def summary(self) -> str:
        return ", ".join(f"{n} {action}" for action, n in self.counts().items() if n)
