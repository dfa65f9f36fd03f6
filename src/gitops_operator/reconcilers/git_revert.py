"""Rollbacks that Git remembers (``spec.rollback.gitRevert``): after an automatic
rollback, a commit reverting the failed range is pushed (``source.revert``) to a new
branch, with a pull request where a Provider is named, or to the tracked branch itself.

A rollback leaves ``status.gitRevert`` Pending (``requested``); each pass then moves it
on (``step``): a job is started off the reconcile's path, its result recorded once
(``status.gitRevert``, the history entry of the rolled-back revision, the GitReverted
condition, an Event). The rollback itself never depends on it: until the revert arrives
through the repository, the Application stays held at the last good revision. A manual
rollback (rollbackTo) pushes nothing: it is a person's decision, not a failure Git should
be told of.

Sets ``status.gitRevert``, the ``gitRevert`` of a history entry, the GitReverted
condition; Events GitRevertPushed, GitRevertFailed, PullRequestOpened.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..api import GitRevertSpec, RefKind, parse_repository_spec, sha_of, status_fields
from ..api.git_revert import RevertTarget
from ..conditions import ConditionType, ConditionUpdate
from ..errors import ApiError, FencedError, GitOpsError, RetryableError
from ..source import GitSource
from ..source.revert import RevertPlan
from .credentials import load_revert_credentials
from .decisions import seconds_since
from .outcome import Event, Outcome
from .revert_jobs import GitReverts, JobKey, JobResult, RevertJob
from .revert_plan import (
    MAX_ATTEMPTS,
    RevertState,
    already_done,
    backoff,
    branch_name,
    commit_message,
    complete,
    pending,
    tracked_branch,
    trailer,
    with_history,
)
from .revert_pr import pull_request_opener
from .run import ApplicationRun

JOB_POLL = 2.0
"""Seconds between passes while a revert job runs."""


def requested(run: ApplicationRun, rolled_back: Outcome) -> Outcome:
    """``rolled_back`` (an automatic rollback's outcome) with its revert asked for, when
    the Application opts in and the rollback restored the last good revision."""
    spec = run.spec.rollback.git_revert
    restored = any(u.type is ConditionType.ROLLED_BACK and u.status for u in rolled_back.conditions)
    if spec is None or not restored:
        return rolled_back
    good = str(rolled_back.status.get(status_fields.LAST_APPLIED_REVISION) or "")
    if already_done(run.status.get(status_fields.GIT_REVERT), run.revision) or not good:
        return rolled_back
    status = {**rolled_back.status, status_fields.GIT_REVERT: pending(run.revision, good)}
    return replace(rolled_back, status=status)


def step(
    run: ApplicationRun,
    outcome: Outcome,
    git: GitSource,
    jobs: GitReverts,
) -> Outcome:
    """Move a Pending revert on: start its job, or record the job's result."""
    spec = run.spec.rollback.git_revert
    merged = {**run.status, **outcome.status}
    record = {
        k: v for k, v in (merged.get(status_fields.GIT_REVERT) or {}).items() if v is not None
    }
    if spec is None or record.get("state") != RevertState.PENDING:
        return outcome
    failed = str(record.get("revision") or "")
    key: JobKey = (run.namespace, run.name, run.uid, failed)
    result = jobs.collect(key)
    if result is not None and isinstance(result.error, FencedError):
        result = None  # not pushed while another replica owned it: this pass starts over
    if result is not None:
        return _recorded(run, outcome, merged, record, result)
    if jobs.submitted(key):
        return _poll(outcome)
    if merged.get(status_fields.FAILED_REVISION) != failed:
        record.update(state=RevertState.SUPERSEDED.value, message="a newer revision was applied")
        return _with_record(outcome, merged, record)
    attempts = int(record.get("attempts") or 0)
    wait = backoff(attempts) - seconds_since(str(record.get("lastAttemptAt") or ""), run.now)
    if attempts and wait > 0:
        return replace(outcome, requeue_after=min(outcome.requeue_after, wait))
    try:
        job = _job(run, spec, record)
    except GitOpsError as exc:
        return _recorded(run, outcome, merged, record, JobResult(None, _plain(exc), run.now))
    jobs.submit(key, git, job)
    return _poll(outcome)


def _job(
    run: ApplicationRun,
    spec: GitRevertSpec,
    record: dict[str, Any],
) -> RevertJob:
    """What the job needs, read now with the Application's own rights (its Secret, the
    repository's URL and branch, its Provider); ``GitOpsError`` when something is missing."""
    repo = parse_repository_spec(run.repo_spec)
    failed, good = str(record["revision"]), str(record["revertTo"])
    base = tracked_branch(failed)
    if repo.ref.kind is not RefKind.BRANCH or not base or tracked_branch(good) != base:
        raise GitOpsError(
            f"{failed} is not the head of a branch (the GitRepository tracks a"
            f" {repo.ref.kind.value}): a revert is pushed only for a tracked branch",
            reason="UnsupportedRef",
        )
    credentials = load_revert_credentials(run.home_kube, run.namespace, spec.secret_name)
    branch = (
        base
        if spec.target is RevertTarget.TRACKED_BRANCH
        else branch_name(spec.branch_prefix, failed)
    )
    why = next(
        (
            str(h.get("message") or "")
            for h in run.status.get(status_fields.HISTORY) or []
            if isinstance(h, dict) and h.get("revision") == failed
        ),
        "",
    )
    plan = RevertPlan(
        url=repo.url,
        base=base,
        good=sha_of(good),
        failed=sha_of(failed),
        branch=branch,
        message=commit_message(run.namespace, run.name, good, failed, why),
        trailer=trailer(run.namespace, run.name, good, failed),
        author_name=spec.author_name,
        author_email=spec.author_email,
        timeout=repo.timeout,
    )
    opener = pull_request_opener(run, spec.provider_name, plan) if spec.provider_name else None
    return RevertJob(plan, credentials, opener)


def _plain(error: GitOpsError) -> GitOpsError:
    """An API server's answer to a read of the Secret or Provider, in the words of a
    revert: refused (Forbidden: the Application's account may not read it), or passing."""
    if not isinstance(error, ApiError):
        return error
    if error.transient:
        return RetryableError(error.message, reason="ApiUnavailable")
    return GitOpsError(error.message, reason="Forbidden" if error.code == 403 else error.reason)


def _poll(outcome: Outcome) -> Outcome:
    return replace(outcome, requeue_after=min(outcome.requeue_after, JOB_POLL))


def _with_record(
    outcome: Outcome, merged: dict[str, Any], record: dict[str, Any], **extra: Any
) -> Outcome:
    status = {**outcome.status, status_fields.GIT_REVERT: complete(record), **extra}
    return replace(outcome, status=status)


def _recorded(
    run: ApplicationRun,
    outcome: Outcome,
    merged: dict[str, Any],
    record: dict[str, Any],
    result: JobResult,
) -> Outcome:
    """The job's result in status, history, the GitReverted condition and an Event."""
    failed = str(record["revision"])
    record["lastAttemptAt"] = result.finished_at
    record["attempts"] = int(record.get("attempts") or 0) + 1
    events: list[Event] = []
    conditions: list[ConditionUpdate] = []
    if result.error is not None:
        error = result.error
        retry = isinstance(error, RetryableError) and record["attempts"] < MAX_ATTEMPTS
        record.update(reason=error.reason, message=error.message)
        if retry:
            message = (
                f"revert of {failed} not pushed yet ({error.reason}): {error.message};"
                f" attempt {record['attempts'] + 1} of {MAX_ATTEMPTS} in"
                f" {backoff(record['attempts']):.0f}s"
            )
            events.append(Event("GitRevertFailed", message, warning=True))
            outcome = replace(outcome, requeue_after=min(outcome.requeue_after, JOB_POLL))
        else:
            record["state"] = RevertState.FAILED.value
            message = (
                f"revert of {failed} not pushed ({error.reason}): {error.message}; the"
                f" rollback to {record['revertTo']} stands"
            )
            events.append(Event("GitRevertFailed", message, warning=True))
        conditions.append(ConditionUpdate(ConditionType.GIT_REVERTED, False, error.reason, message))
    elif result.pushed is not None:
        pushed = result.pushed
        if not pushed.commit:
            record.update(state=RevertState.NOT_NEEDED.value, reason=None, message=pushed.note)
            message = f"nothing to revert for {failed}: {pushed.note}"
            conditions.append(
                ConditionUpdate(ConditionType.GIT_REVERTED, True, "NothingToRevert", message)
            )
        else:
            record.update(
                state=RevertState.PUSHED.value,
                commit=pushed.commit,
                branch=pushed.branch,
                pushedAt=result.finished_at,
                reason=None,
                message=pushed.note or None,
            )
            verb = "found on" if pushed.reused else "pushed to"
            message = (
                f"revert of {sha_of(record['revertTo'])[:12]}..{sha_of(failed)[:12]}"
                f" {verb} branch {pushed.branch} as {pushed.commit[:12]}"
            )
            events.append(Event("GitRevertPushed", message))
            reason = "GitRevertPushed"
            pull = result.pull_request
            if pull is not None and pull.url:
                record["pullRequest"] = pull.url
                events.append(Event("PullRequestOpened", f"pull request {pull.url} for {message}"))
                message += f"; pull request {pull.url}"
            elif pull is not None and pull.error is not None:
                record.update(reason=pull.error.reason, message=pull.error.message)
                reason = pull.error.reason
                message += f"; the pull request was not opened: {pull.error.message}"
                events.append(Event("GitRevertFailed", message, warning=True))
            conditions.append(ConditionUpdate(ConditionType.GIT_REVERTED, True, reason, message))
    history = with_history(merged, failed, record)
    outcome = _with_record(outcome, merged, record, **{status_fields.HISTORY: history})
    return replace(
        outcome,
        conditions=[*outcome.conditions, *conditions],
        events=[*outcome.events, *events],
    )
