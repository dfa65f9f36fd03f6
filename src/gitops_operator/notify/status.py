"""What a Provider's and an Alert's status say: Ready with a reason, and for a Provider
the last delivery (time, result, HTTP code). Pure; never an address, token or body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api import status_fields
from ..conditions import ConditionType, ConditionUpdate, apply_updates

SPEC_ERRORS = frozenset({"InvalidProvider", "InvalidAlert", "CrossNamespaceRef", "InvalidSpec"})
"""The Ready reasons that a spec error sets, and a valid spec clears."""


@dataclass(frozen=True, slots=True)
class Result:
    """One delivery's result (after its retries)."""

    ok: bool
    reason: str
    """``Succeeded``, or why not: ``DeliveryFailed``, ``SecretNotFound``, ``InvalidProvider``,
    ``HostNotAllowed``."""
    message: str
    code: int | None = None
    """The HTTP status code the provider answered with, when it answered."""
    retryable: bool = False
    attempts: int = 1


def delivery_status(
    old_conditions: list[dict[str, Any]], result: Result, *, generation: int, now: str
) -> dict[str, Any]:
    """The Provider's status after a delivery: Ready (True after a success, False after a
    failure, with its reason) and ``lastDelivery``."""
    last: dict[str, Any] = {
        "time": now,
        "result": "Succeeded" if result.ok else "Failed",
        "reason": result.reason,
        "message": result.message[:512],
        "attempts": result.attempts,
        "httpCode": result.code,
    }
    message = "last delivery succeeded" if result.ok else f"last delivery failed: {result.message}"
    update = ConditionUpdate(ConditionType.READY, result.ok, result.reason, message[:1024])
    return {
        status_fields.LAST_DELIVERY: last,
        "conditions": apply_updates(
            old_conditions, [update], generation=generation, now=now, clear=()
        ),
    }


def validity_status(
    old_conditions: list[dict[str, Any]],
    *,
    error: tuple[str, str] | None,
    generation: int,
    now: str,
    valid_message: str,
    observed: int | None = None,
) -> dict[str, Any]:
    """The status of an Alert or Provider whose spec was just read: Ready=False with the
    error's reason and message, or, for a valid one, Ready=True (reason Valid) unless
    Ready already says something else than a spec error (a delivery's result) about
    this generation (``observed``): a changed spec starts afresh."""
    if error is not None:
        update = ConditionUpdate(ConditionType.READY, False, error[0], error[1])
    else:
        current = next((c for c in old_conditions if c.get("type") == "Ready"), None)
        if (
            current is not None
            and current.get("reason") not in SPEC_ERRORS
            and observed == generation
        ):
            return {"observedGeneration": generation, "conditions": old_conditions}
        update = ConditionUpdate(ConditionType.READY, True, "Valid", valid_message)
    return {
        "observedGeneration": generation,
        "conditions": apply_updates(
            old_conditions, [update], generation=generation, now=now, clear=()
        ),
    }
