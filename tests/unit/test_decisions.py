"""The decisions of a reconcile, table by table."""

from __future__ import annotations

import pytest

from gitops_operator.api import RollbackSpec
from gitops_operator.errors import (
    ApplyError,
    DryRunError,
    GitOpsError,
    HealthCheckError,
    HookFailedError,
    PruneError,
    RenderError,
    StalledError,
)
from gitops_operator.reconcilers.decisions import (
    deletion_refusal,
    dependency_blocker,
    drift_due,
    drift_result_written,
    find_cycle,
    health_check_passed,
    quarantined,
    rollback_requested,
    seconds_since,
    settled,
    should_roll_back,
    soak_remaining,
    success_is_news,
    wave_in_progress,
)

A = "main@sha1:" + "a" * 40
B = "main@sha1:" + "b" * 40
C = "main@sha1:" + "c" * 40


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
        (  # re-applied after a spec change: every apply clears healthyAt
            {
                "lastAppliedRevision": A,
                "lastGoodRevision": A,
                "lastAppliedAt": "2026-01-01T01:00:00Z",
            },
            False,
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


def partial_dry_run() -> DryRunError:
    return DryRunError("Widget/ns/w: no kind Widget", partial=True)


GOOD = {"lastGoodRevision": A}
ON = RollbackSpec()


@pytest.mark.parametrize(
    ("error", "policy", "status", "revision", "expected"),
    [
        (HealthCheckError("x"), ON, GOOD, B, True),
        (ApplyError("x"), ON, GOOD, B, True),
        (partial_dry_run(), ON, GOOD, B, True),
        (DryRunError("nothing written"), ON, GOOD, B, False),
        (RenderError("x"), ON, GOOD, B, False),
        (StalledError("empty render", reason="EmptyRender"), ON, GOOD, B, False),
        (PruneError("x"), ON, GOOD, B, False),
        (GitOpsError("x"), ON, GOOD, B, False),
        (HealthCheckError("x"), ON, {}, B, False),  # nothing good to go back to
        (HealthCheckError("x"), ON, GOOD, A, False),  # the good one itself failed
        (HealthCheckError("x"), RollbackSpec(enabled=False), GOOD, B, False),
        (HealthCheckError("x"), RollbackSpec(on_health_failure=False), GOOD, B, False),
        (HookFailedError("x", written=True), ON, GOOD, B, True),  # a failed PostSync
        (HookFailedError("x", written=False), ON, GOOD, B, False),  # PreSync: nothing written
        (HookFailedError("x", written=True), RollbackSpec(on_health_failure=False), GOOD, B, False),
        (ApplyError("x"), RollbackSpec(on_health_failure=False), GOOD, B, True),
        (ApplyError("x"), RollbackSpec(on_apply_failure=False), GOOD, B, False),
        (partial_dry_run(), RollbackSpec(on_apply_failure=False), GOOD, B, False),
    ],
)
def test_should_roll_back(
    error: GitOpsError,
    policy: RollbackSpec,
    status: dict[str, str],
    revision: str,
    expected: bool,
) -> None:
    assert should_roll_back(error, policy, status, revision) is expected


NOW = "2026-01-01T00:10:00Z"


@pytest.mark.parametrize(
    ("memo", "written", "interval", "due"),
    [
        ("", "", 60.0, True),  # never checked
        ("2026-01-01T00:09:30Z", "", 60.0, False),  # checked in this process, not written
        ("", "2026-01-01T00:09:30Z", 60.0, False),  # written by an earlier process
        ("2026-01-01T00:08:00Z", "2026-01-01T00:05:00Z", 60.0, True),
        ("2026-01-01T00:09:00Z", "", 60.0, True),  # exactly one interval
    ],
)
def test_drift_due(memo: str, written: str, interval: float, due: bool) -> None:
    assert drift_due(memo, written, NOW, interval) is due


@pytest.mark.parametrize(
    ("changed", "written", "interval", "write"),
    [
        (True, "2026-01-01T00:09:59Z", 60.0, True),
        (False, "2026-01-01T00:09:00Z", 60.0, False),  # unchanged: at most every 5m
        (False, "2026-01-01T00:04:59Z", 60.0, True),
        (False, "2026-01-01T00:02:00Z", 600.0, False),  # ... or every interval when longer
        (False, "", 60.0, True),
    ],
)
def test_drift_result_written(changed: bool, written: str, interval: float, write: bool) -> None:
    assert drift_result_written(changed, written, NOW, interval) is write


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"prune": True, "stale": 3, "rendered": 0, "allow_empty": False}, "EmptyRender"),
        ({"prune": True, "stale": 3, "rendered": 0, "allow_empty": True}, None),
        ({"prune": False, "stale": 3, "rendered": 0, "allow_empty": False}, None),
        ({"prune": True, "stale": 0, "rendered": 0, "allow_empty": False}, None),
        ({"prune": True, "stale": 3, "rendered": 5, "max_deletions": 2}, "TooManyDeletions"),
        ({"prune": True, "stale": 2, "rendered": 5, "max_deletions": 2}, None),
        ({"prune": False, "stale": 9, "rendered": 5, "max_deletions": 2}, None),
    ],
)
def test_deletion_refusal(kwargs: dict[str, object], reason: str | None) -> None:
    args = {"allow_empty": False, "max_deletions": None, **kwargs}
    refusal = deletion_refusal(**args)  # type: ignore[arg-type]
    assert (refusal[0] if refusal else None) == reason


FAILED = {"failedRevision": B, "failedGeneration": 3}


@pytest.mark.parametrize(
    ("status", "revision", "generation", "retry", "expected"),
    [
        (FAILED, B, 3, "", True),
        (FAILED, A, 3, "", False),  # a new commit
        (FAILED, B, 4, "", False),  # a spec change
        (FAILED, B, 3, "t1", False),  # a new retryAt
        ({**FAILED, "lastHandledRetryAt": "t1"}, B, 3, "t1", True),  # already answered
    ],
)
def test_quarantined(
    status: dict[str, object], revision: str, generation: int, retry: str, expected: bool
) -> None:
    assert quarantined(status, revision, generation, retry) is expected


@pytest.mark.parametrize(
    ("status", "requested_at", "wanted", "expected"),
    [
        ({}, "t1", "abc1234", True),  # a first request
        ({}, "", "abc1234", False),  # a target alone asks for nothing
        ({}, "t1", "", False),  # a stamp without a target
        (
            {"lastHandledRollbackAt": "t1", "lastHandledRollbackTo": "abc1234"},
            "t1",
            "abc1234",
            False,
        ),
        # the same revision asked again: a new stamp, the same spelling
        (
            {"lastHandledRollbackAt": "t1", "lastHandledRollbackTo": "abc1234"},
            "t2",
            "abc1234",
            True,
        ),
    ],
)
def test_rollback_requested_once_per_stamp(
    status: dict[str, object], requested_at: str, wanted: str, expected: bool
) -> None:
    assert rollback_requested(status, requested_at, wanted) is expected


APPLIED = {"lastAppliedRevision": B, "observedGeneration": 3}


@pytest.mark.parametrize(
    ("status", "revision", "generation", "requested", "expected"),
    [
        (APPLIED, B, 3, "", True),
        (APPLIED, A, 3, "", False),
        (APPLIED, B, 4, "", False),
        (APPLIED, B, 3, "t1", False),
        ({**APPLIED, "lastHandledReconcileAt": "t1"}, B, 3, "t1", True),
        # a newer revision recorded as changing none of B's inputs is settled too ...
        ({**APPLIED, "unaffectedRevision": {"revision": C, "appliedRevision": B}}, C, 3, "", True),
        # ... only while B is the applied revision the record was made against
        ({**APPLIED, "unaffectedRevision": {"revision": C, "appliedRevision": A}}, C, 3, "", False),
        ({**APPLIED, "unaffectedRevision": "garbage"}, C, 3, "", False),
    ],
)
def test_settled(
    status: dict[str, object], revision: str, generation: int, requested: str, expected: bool
) -> None:
    assert settled(status, revision, generation, requested) is expected


def application(
    generation: int = 1, observed: int | None = 1, **conditions: str
) -> dict[str, object]:
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed,
            "conditions": [
                {"type": t, "status": s, "reason": "R", "message": "m"}
                for t, s in conditions.items()
            ],
        },
    }


@pytest.mark.parametrize(
    ("dependency", "blocked"),
    [
        (application(Ready="True"), None),
        (None, "not found"),
        (application(2, 1, Ready="True"), "its latest spec is not reconciled yet"),
        (application(1, None), "its latest spec is not reconciled yet"),
        (application(Ready="False"), "Ready=False (R: m)"),
        (application(Ready="Unknown"), "in progress (R: m)"),
        (application(Ready="True", RolledBack="True"), "rolled back: m"),
        (application(), "not reconciled yet"),
    ],
)
def test_dependency_blocker(dependency: dict[str, object] | None, blocked: str | None) -> None:
    assert dependency_blocker(dependency) == blocked


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": ("b",), "b": ("c",)}, None),
        ({"a": ("b",), "b": ("a",)}, ["a", "b", "a"]),
        ({"a": ("a",)}, ["a", "a"]),
        ({"a": ("b", "c"), "b": ("d",), "c": ("d",), "d": ("a",)}, ["a", "b", "d", "a"]),
        ({"a": ("b",), "b": ("c",), "c": ("b",)}, None),  # a cycle a is not part of
        ({"a": ()}, None),
    ],
)
def test_find_cycle(graph: dict[str, tuple[str, ...]], cycle: list[str] | None) -> None:
    assert find_cycle("a", graph) == cycle


def test_find_cycle_walks_a_long_chain_without_recursion() -> None:
    chain = {i: (i + 1,) for i in range(20_000)}
    assert find_cycle(0, chain) is None
    assert find_cycle(0, {**chain, 20_000: (0,)}) == [*range(20_001), 0]


APPLIED_R2 = {"failedRevision": "r2", "lastAppliedRevision": "r2", "stalled": None}


def hooks_of(revision: str, hook: str, phase: str) -> dict[str, object]:
    item = {"apiVersion": "batch/v1", "kind": "Job", "name": "smoke", "hook": hook, "phase": phase}
    return {"revision": revision, "items": [item]}


@pytest.mark.parametrize(
    ("status", "recovers"),
    [
        # the failed revision is the applied one and failed its health check
        (
            {"failedRevision": "r2", "lastAppliedRevision": "r2", "stalled": "HealthCheckFailed"},
            True,
        ),
        # rolled back: the applied revision is the last good one, not the failed one
        (
            {"failedRevision": "r2", "lastAppliedRevision": "r1", "stalled": "HealthCheckFailed"},
            False,
        ),
        # refused before anything was written, or failed to apply
        ({"failedRevision": "r2", "lastAppliedRevision": "r2", "stalled": "ApplyFailed"}, False),
        ({"failedRevision": "r2", "lastAppliedRevision": "r2", "stalled": None}, False),
        # another revision failed
        (
            {"failedRevision": "r3", "lastAppliedRevision": "r2", "stalled": "HealthCheckFailed"},
            False,
        ),
        # turned healthy late: its PostSync hooks run, it is released when they pass
        ({**APPLIED_R2, "hooks": hooks_of("r2", "PostSync", "Running")}, True),
        ({**APPLIED_R2, "hooks": hooks_of("r2", "Sync", "Running")}, True),
        ({**APPLIED_R2, "hooks": hooks_of("r2", "PostSync", "Pending")}, False),
        ({**APPLIED_R2, "hooks": hooks_of("r2", "PostSync", "Failed")}, False),
        ({**APPLIED_R2, "hooks": hooks_of("r2", "PreSync", "Running")}, False),
        ({**APPLIED_R2, "hooks": hooks_of("r1", "PostSync", "Running")}, False),
    ],
)
def test_health_may_recover(status: dict[str, object], recovers: bool) -> None:
    from gitops_operator.reconcilers.decisions import health_may_recover

    reason = status.pop("stalled")
    conditions = [] if reason is None else [{"type": "Stalled", "status": "True", "reason": reason}]
    assert health_may_recover({**status, "conditions": conditions}, "r2") is recovers


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (None, None),
        (
            {"revision": "main@sha1:a", "wave": 2, "appliedAt": "2024-01-01T00:00:00Z"},
            (2, "2024-01-01T00:00:00Z"),
        ),
        ({"revision": "main@sha1:b", "wave": 2, "appliedAt": "2024-01-01T00:00:00Z"}, None),
        ({"revision": "main@sha1:a", "wave": "2", "appliedAt": "2024-01-01T00:00:00Z"}, None),
        ({"revision": "main@sha1:a", "wave": True, "appliedAt": "2024-01-01T00:00:00Z"}, None),
        ({"revision": "main@sha1:a", "wave": 0}, None),
    ],
)
def test_wave_in_progress_only_for_the_revision_it_names(record, expected):
    assert wave_in_progress({"syncWave": record}, "main@sha1:a") == expected


@pytest.mark.parametrize(
    ("ready", "applied", "changed", "news"),
    [
        ("True", "main@sha1:a", False, False),  # a requested pass, nothing changed (#626)
        ("True", "main@sha1:a", True, True),  # it re-configured something
        ("True", "main@sha1:old", False, True),  # a new revision
        ("Unknown", "main@sha1:a", False, True),  # it just turned healthy
        ("False", "main@sha1:a", False, True),  # recovered
    ],
)
def test_success_is_news_only_for_a_real_change(ready, applied, changed, news) -> None:
    status = {
        "lastAppliedRevision": applied,
        "conditions": [{"type": "Ready", "status": ready}],
    }
    assert success_is_news(status, "main@sha1:a", changed) is news
