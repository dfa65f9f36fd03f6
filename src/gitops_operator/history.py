"""Bounded revision history kept in ``status.history``, newest first."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

DEFAULT_LIMIT = 10

HistoryEntry = dict[str, Any]


class SyncResult(StrEnum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ROLLED_BACK = "RolledBack"


def record(
    history: list[HistoryEntry], entry: HistoryEntry, *, limit: int = DEFAULT_LIMIT
) -> list[HistoryEntry]:
    """Prepend ``entry``; a repeat of the newest revision and result replaces it."""
    rest = history
    if history and all(history[0].get(k) == entry.get(k) for k in ("revision", "result")):
        rest = history[1:]
    return [entry, *rest][:limit]
