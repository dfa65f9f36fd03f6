"""When health may still fail a revision (issue: a healthy revision quarantined later)."""

from __future__ import annotations

import pytest

from gitops_operator.reconcilers.health_gate import (
    health_check_passed,
    seconds_since,
    soak_remaining,
)

A = "main@sha1:" + "a" * 40
B = "main@sha1:" + "b" * 40


@pytest.mark.parametrize(
    ("status", "passed"),
    [
        ({}, False),
        ({"lastAppliedRevision": A, "lastAppliedAt": "2026-01-01T00:00:00Z"}, False),
        (
            {
                "lastAppliedRevision": A,
                "lastAppliedAt": "2026-01-01T00:00:00Z",
                "healthyAt": "2026-01-01T00:00:30Z",
            },
            True,
        ),
        (  # healthy in the same second it was applied
            {
                "lastAppliedRevision": A,
                "lastAppliedAt": "2026-01-01T00:00:00Z",
                "healthyAt": "2026-01-01T00:00:00Z",
            },
            True,
        ),
        (  # applied again (a spec change) after it had been healthy: a new health check
            {
                "lastAppliedRevision": A,
                "lastGoodRevision": A,
                "lastAppliedAt": "2026-01-01T01:00:00Z",
                "healthyAt": "2026-01-01T00:00:30Z",
            },
            False,
        ),
        (  # written before healthyAt existed
            {"lastAppliedRevision": A, "lastGoodRevision": A},
            True,
        ),
        ({"lastAppliedRevision": B, "lastGoodRevision": A}, False),
    ],
)
def test_health_check_ends_at_first_healthy_assessment(
    status: dict[str, str], passed: bool
) -> None:
    assert health_check_passed(status) is passed


SOAKING = {
    "lastAppliedRevision": B,
    "lastGoodRevision": A,
    "lastAppliedAt": "2026-01-01T00:00:00Z",
    "healthyAt": "2026-01-01T00:00:10Z",
}


@pytest.mark.parametrize(
    ("status", "soak", "now", "remaining"),
    [
        (SOAKING, 0.0, "2026-01-01T00:00:20Z", None),  # no soak period
        (SOAKING, 60.0, "2026-01-01T00:00:20Z", 50.0),
        (SOAKING, 60.0, "2026-01-01T00:01:10Z", 0.0),
        (SOAKING, 60.0, "2026-01-01T00:05:00Z", -230.0),
        ({**SOAKING, "lastGoodRevision": B}, 60.0, "2026-01-01T00:00:20Z", None),  # promoted
        ({**SOAKING, "healthyAt": None}, 60.0, "2026-01-01T00:00:20Z", None),  # not healthy yet
    ],
)
def test_soak_period_runs_from_first_healthy_until_promotion(
    status: dict[str, str | None], soak: float, now: str, remaining: float | None
) -> None:
    assert soak_remaining(status, soak, now) == remaining


def test_seconds_since_empty_stamp_is_forever() -> None:
    assert seconds_since("", "2026-01-01T00:00:00Z") == float("inf")
    assert seconds_since("2026-01-01T00:00:00Z", "2026-01-01T00:01:30Z") == 90.0
