"""The pure parts of a Git revert after a rollback: the branch it goes to, the commit
message that names the range and the Application, and the record kept in
``status.gitRevert`` (and in the rolled-back revision's history entry)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..api import sha_of, status_fields
from ..errors import GitOpsError
from ..source.revert import Pushed

SHORT_SHA = 12
MAX_ATTEMPTS = 4
"""Attempts for a revert that failed on something passing (a server unreachable)."""
FIRST_BACKOFF = 30.0
"""Seconds before the second attempt; each next one waits twice as long."""
TRAILER = "Gitops-Operator-Revert"


class RevertState(StrEnum):
    PENDING = "Pending"
    """Asked for by a rollback; being pushed, or waiting for its next attempt."""
    PUSHED = "Pushed"
    """The revert commit is on the branch (pushed now, or found there)."""
    NOT_NEEDED = "NotNeeded"
    """The branch already had the last good tree: nothing to revert."""
    FAILED = "Failed"
    """Not pushed; its reason says what to fix. Not tried again for this revision."""
    SUPERSEDED = "Superseded"
    """A newer revision was applied before the revert could be pushed."""


@dataclass(frozen=True, slots=True)
class PullRequestResult:
    url: str = ""
    error: GitOpsError | None = None


OpenPullRequest = Callable[[Pushed], PullRequestResult]
"""Opens the pull request of a pushed revert branch (when a Provider is named)."""


def branch_name(prefix: str, failed_revision: str) -> str:
    """``gitops-operator/revert-<first 12 hex digits of the failed commit>``."""
    return f"{prefix}{sha_of(failed_revision)[:SHORT_SHA]}"


def tracked_branch(revision: str) -> str:
    """The branch of a revision string (``main@sha1:<sha>`` -> ``main``); "" for a pinned
    commit (``sha1:<sha>``)."""
    name, found, _ = revision.rpartition("@sha1:")
    return name if found else ""


def trailer(namespace: str, name: str, good: str, failed: str) -> str:
    """The line that marks a commit as this Application's revert of this range."""
    return f"{TRAILER}: {namespace}/{name} {sha_of(good)}..{sha_of(failed)}"


def commit_message(
    namespace: str, name: str, good: str, failed: str, why: str, *, limit: int = 2000
) -> str:
    """A commit message naming the reverted range and the Application; ``why`` is the
    failure as the rolled-back history entry says it (clipped)."""
    good_sha, failed_sha = sha_of(good), sha_of(failed)
    subject = (
        f"Revert {good_sha[:SHORT_SHA]}..{failed_sha[:SHORT_SHA]}: {namespace}/{name}"
        " was rolled back"
    )
    why = " ".join(why.split())
    if len(why) > limit:
        why = why[: limit - 3] + "..."
    body = (
        f"The Application {namespace}/{name} failed at {failed} and was rolled back to"
        f" {good}.\nThis commit reverts {good_sha}..{failed_sha}, so that the branch holds"
        " again what the cluster runs."
    )
    if why:
        body += f"\n\nFailure: {why}"
    return f"{subject}\n\n{body}\n\n{trailer(namespace, name, good, failed)}\n"


RECORD_FIELDS = (
    "revision",
    "revertTo",
    "state",
    "attempts",
    "reason",
    "message",
    "commit",
    "branch",
    "pushedAt",
    "pullRequest",
    "lastAttemptAt",
)
"""The fields of ``status.gitRevert``."""


def complete(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as a merge patch of ``status.gitRevert``: every field named, absent
    ones as null, so nothing of an earlier revert is left in it."""
    return {k: record.get(k) for k in RECORD_FIELDS}


def pending(failed: str, good: str) -> dict[str, Any]:
    """The record a rollback leaves for its revert to be pushed."""
    return complete(
        {"revision": failed, "revertTo": good, "state": RevertState.PENDING.value, "attempts": 0}
    )


def already_done(record: Any, failed: str) -> bool:
    """A revert of ``failed`` was already pushed (or found not needed): a second rollback
    of the same revision (after a spec change) keeps that record."""
    return (
        isinstance(record, dict)
        and record.get("revision") == failed
        and record.get("state") in (RevertState.PUSHED, RevertState.NOT_NEEDED)
    )


def backoff(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1`` (after ``attempts`` failed ones)."""
    return FIRST_BACKOFF * float(2 ** max(attempts - 1, 0))


def with_history(status: dict[str, Any], failed: str, record: dict[str, Any]) -> list[Any]:
    """``status.history`` with the revert recorded in the entry of ``failed`` that rolled
    it back (the newest such entry)."""
    history = [dict(h) for h in status.get(status_fields.HISTORY) or [] if isinstance(h, dict)]
    summary = {
        k: record[k]
        for k in ("state", "commit", "branch", "pullRequest", "reason")
        if record.get(k) not in (None, "")
    }
    for entry in history:
        if entry.get("revision") == failed and entry.get("result") == "RolledBack":
            entry[status_fields.GIT_REVERT] = summary
            break
    return history
