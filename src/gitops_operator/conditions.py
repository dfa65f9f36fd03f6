"""Status conditions in kstatus form: Ready, Reconciling, Stalled, Drifted, RolledBack,
SourceReady.

Pure functions over the ``status.conditions`` list. ``lastTransitionTime`` moves only when
a condition's status changes, so watchers see real transitions, not every reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Condition = dict[str, Any]

MAX_MESSAGE = 1024
"""A condition's message is cut to this many characters (history entries and kopf's
Events keep the same bound): an API server's answer can be kilobytes (an immutable pod
template is printed whole), and a condition is read in ``kubectl get`` and ``describe``."""


class ConditionType(StrEnum):
    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    DRIFTED = "Drifted"
    ROLLED_BACK = "RolledBack"
    SOURCE_READY = "SourceReady"
    """Set (False) only while the source fails; its last artifact still applies."""
    GIT_REVERTED = "GitReverted"
    """Whether the revert of a rolled-back revision was pushed (``spec.rollback.gitRevert``)."""


@dataclass(frozen=True, slots=True)
class ConditionUpdate:
    """One condition to set; ``status`` None means Unknown."""

    type: ConditionType
    status: bool | None
    reason: str
    message: str


def set_condition(
    conditions: list[Condition], update: ConditionUpdate, *, generation: int, now: str
) -> list[Condition]:
    """Return ``conditions`` with ``update`` applied (a new list; the input is unchanged)."""
    status = {True: "True", False: "False", None: "Unknown"}[update.status]
    result: list[Condition] = []
    found = False
    for cond in conditions:
        if cond.get("type") != update.type:
            result.append(cond)
            continue
        found = True
        since = cond.get("lastTransitionTime") if cond.get("status") == status else None
        result.append(_condition(update, status, generation, since or now))
    if not found:
        result.append(_condition(update, status, generation, now))
    return sorted(result, key=lambda c: str(c.get("type")))


def remove_condition(conditions: list[Condition], kind: ConditionType) -> list[Condition]:
    return [c for c in conditions if c.get("type") != kind]


def get_condition(conditions: list[Condition], kind: ConditionType) -> Condition | None:
    return next((c for c in conditions if c.get("type") == kind), None)


def _condition(update: ConditionUpdate, status: str, generation: int, since: str) -> Condition:
    return {
        "type": str(update.type),
        "status": status,
        "reason": update.reason,
        "message": clip(update.message),
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }


def clip(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` within ``limit`` characters: its beginning and its end, which name what
    failed and why (an API error ends with the reason, e.g. "field is immutable")."""
    if len(message) <= limit:
        return message
    cut = " [... cut ...] "
    keep = limit - len(cut)
    return message[: keep * 2 // 3] + cut + message[len(message) - (keep - keep * 2 // 3) :]


def ready(message: str, reason: str = "ReconciliationSucceeded") -> list[ConditionUpdate]:
    """The conditions of a finished, successful reconcile."""
    return [ConditionUpdate(ConditionType.READY, True, reason, message)]


def failed(reason: str, message: str, *, stalled: bool) -> list[ConditionUpdate]:
    """Ready=False; Stalled=True too when retrying cannot help until the user acts."""
    updates = [ConditionUpdate(ConditionType.READY, False, reason, message)]
    if stalled:
        updates.append(ConditionUpdate(ConditionType.STALLED, True, reason, message))
    return updates


def progressing(message: str) -> list[ConditionUpdate]:
    """kstatus in-progress: Ready=Unknown and Reconciling=True."""
    return [
        ConditionUpdate(ConditionType.READY, None, "Progressing", message),
        ConditionUpdate(ConditionType.RECONCILING, True, "Progressing", message),
    ]


TRANSIENT = (ConditionType.RECONCILING, ConditionType.STALLED)


def apply_updates(
    conditions: list[Condition],
    updates: list[ConditionUpdate],
    *,
    generation: int,
    now: str,
    clear: tuple[ConditionType, ...] = TRANSIENT,
) -> list[Condition]:
    """Apply a reconcile's outcome; conditions in ``clear`` are removed unless set in it."""
    touched = {u.type for u in updates}
    for transient in clear:
        if transient not in touched:
            conditions = remove_condition(conditions, transient)
    for update in updates:
        conditions = set_condition(conditions, update, generation=generation, now=now)
    return conditions
