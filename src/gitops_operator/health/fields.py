"""Reading a live object's JSON: a malformed field reads as absent, never raises."""

from __future__ import annotations

from typing import Any

from .status import Health, HealthStatus


def progressing(detail: str) -> Health:
    return Health(HealthStatus.PROGRESSING, f"Waiting for rollout to finish: {detail}")


def generation_behind(obj: dict[str, Any]) -> bool:
    # A missing observedGeneration reads as 0: the controller has not looked yet.
    return int_at(obj, "metadata", "generation") > int_at(obj, "status", "observedGeneration")


def get_at(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def int_at(obj: Any, *path: str, default: int = 0) -> int:
    value = get_at(obj, *path)
    # bool is an int subclass; a stray true must not read as 1 replica.
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def str_at(obj: Any, key: str) -> str:
    value = get_at(obj, key)
    return value if isinstance(value, str) else ""


def status_items(obj: dict[str, Any], field: str) -> list[dict[str, Any]]:
    raw = get_at(obj, "status", field)
    return [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []


def condition(obj: dict[str, Any], kind: str, status: str = "") -> dict[str, Any] | None:
    """The condition of type ``kind``; with ``status``, only when it has that status."""
    for cond in status_items(obj, "conditions"):
        if cond.get("type") == kind:
            return cond if not status or cond.get("status") == status else None
    return None
