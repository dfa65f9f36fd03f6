"""What an Application's status and Events say after a sync, a failure and a rollback."""

from __future__ import annotations

from typing import Any

from gitops_operator.errors import GitOpsError, HealthCheckError
from gitops_operator.reconcilers.outcome import counts_patch
from gitops_operator.reconcilers.rollback import failure_message

REV = "main@sha1:" + "c" * 40


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies a status merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def test_change_counts_of_a_revision_replace_those_of_the_one_before() -> None:
    first = {"lastAppliedChanges": counts_patch({"created": 4})}
    second = {"lastAppliedChanges": counts_patch({"configured": 2, "unchanged": 2})}
    stored = merge_patch(merge_patch({}, first), second)
    assert stored["lastAppliedChanges"] == {"configured": 2, "unchanged": 2}


def test_failure_message_names_the_revision_once() -> None:
    error = HealthCheckError(f"revision {REV} did not become healthy within 60s: Deployment x")
    message = failure_message(REV, error)
    assert message.count(REV) == 1
    assert message == (
        f"revision {REV} failed (HealthCheckFailed): it did not become healthy within 60s:"
        " Deployment x"
    )


def test_failure_message_of_an_apply_error_names_the_revision() -> None:
    error = GitOpsError("Deployment ns/web: field is immutable", reason="ApplyFailed")
    assert failure_message(REV, error) == (
        f"revision {REV} failed (ApplyFailed): Deployment ns/web: field is immutable"
    )
