"""Bounded revision history kept in ``status.history``, newest first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DEFAULT_LIMIT = 10

HistoryEntry = dict[str, Any]


class SyncResult(StrEnum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ROLLED_BACK = "RolledBack"


@dataclass(frozen=True, slots=True)
class Entry:
    """One attempt at a revision, as ``status.history`` keeps it."""

    revision: str
    result: SyncResult
    started_at: str
    finished_at: str
    changes: Mapping[str, int] = field(default_factory=dict)
    """What applying the revision changed, by action."""
    message: str = ""
    rolled_back_to: str = ""
    rollback_changes: Mapping[str, int] = field(default_factory=dict)
    """What rolling back to ``rolled_back_to`` changed, by action."""

    def to_status(self) -> HistoryEntry:
        entry: HistoryEntry = {
            "revision": self.revision,
            "result": self.result.value,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }
        optional = {
            "changes": dict(self.changes),
            "message": self.message[:MAX_MESSAGE],
            "rolledBackTo": self.rolled_back_to,
            "rollbackChanges": dict(self.rollback_changes),
        }
        return {**entry, **{k: v for k, v in optional.items() if v}}


MAX_MESSAGE = 1024


def record(
    history: list[HistoryEntry], new: Entry | HistoryEntry, *, limit: int = DEFAULT_LIMIT
) -> list[HistoryEntry]:
    """Prepend ``new``; a repeat of the newest revision and result replaces it."""
    entry = new.to_status() if isinstance(new, Entry) else new
    rest = history
    if history and all(history[0].get(k) == entry.get(k) for k in ("revision", "result")):
        rest = history[1:]
    return [entry, *rest][:limit]
