"""Git reverts run off the reconcile's path: one small pool of workers, one job per
(Application, failed revision) at a time. A pass submits a job and returns; a later
pass collects its result and records it (``git_revert``)."""

from __future__ import annotations

import contextvars
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..errors import GitOpsError
from ..kube import WRITE_FENCE
from ..source import Credentials, GitSource
from ..source.revert import Pushed, RevertPlan, push_revert
from .decisions import TIMESTAMP
from .revert_plan import OpenPullRequest, PullRequestResult

log = logging.getLogger(__name__)

JobKey = tuple[str, str, str, str]
"""namespace, name, uid, failed revision."""
WORKERS = 2


@dataclass(frozen=True, slots=True)
class RevertJob:
    plan: RevertPlan
    credentials: Credentials
    open_pull_request: OpenPullRequest | None = None


@dataclass(frozen=True, slots=True)
class JobResult:
    pushed: Pushed | None
    error: GitOpsError | None
    finished_at: str
    pull_request: PullRequestResult | None = None


def perform(git: GitSource, job: RevertJob) -> JobResult:
    """Push the revert, then open its pull request; every failure is returned, none
    raised (an unexpected one as reason GitRevertFailed)."""
    try:
        pushed = push_revert(git, job.plan, job.credentials, before_push=_fenced)
    except GitOpsError as exc:
        return JobResult(None, exc, _now())
    except Exception as exc:  # a bug must not stop the pool: report it
        log.exception("git revert of %s failed", job.plan.failed)
        return JobResult(
            None, GitOpsError(f"internal error: {exc}", reason="GitRevertFailed"), _now()
        )
    pull_request = None
    if job.open_pull_request is not None and pushed.commit:
        try:
            pull_request = job.open_pull_request(pushed)
        except Exception as exc:
            log.exception("pull request of %s failed", pushed.branch)
            pull_request = PullRequestResult(
                error=GitOpsError(f"internal error: {exc}", reason="PullRequestFailed")
            )
    return JobResult(pushed, None, _now(), pull_request)


def _fenced() -> None:
    """The write fence of the pass that started the job (sharding): a replica that no
    longer owns the Application pushes nothing (``FencedError``)."""
    fence = WRITE_FENCE.get()
    if fence is not None:
        fence()


def _now() -> str:
    return datetime.now(UTC).strftime(TIMESTAMP)


@dataclass(slots=True)
class GitReverts:
    """The jobs running (or finished and not yet collected), by ``JobKey``."""

    workers: int = WORKERS
    _jobs: dict[JobKey, Future[JobResult]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor | None = None

    def submit(self, key: JobKey, git: GitSource, job: RevertJob) -> None:
        with self._lock:
            if key in self._jobs:
                return
            for stale in [k for k, f in self._jobs.items() if k[:2] == key[:2] and f.done()]:
                del self._jobs[stale]  # of an earlier failed revision, never collected
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="git-revert")
            context = contextvars.copy_context()  # the pass's write fence
            self._jobs[key] = self._pool.submit(context.run, perform, git, job)

    def collect(self, key: JobKey) -> JobResult | None:
        """The job's result once it is done (and then forgotten), else None."""
        with self._lock:
            future = self._jobs.get(key)
            if future is None or not future.done():
                return None
            del self._jobs[key]
        return future.result()

    def submitted(self, key: JobKey) -> bool:
        with self._lock:
            return key in self._jobs

    def forget(self, namespace: str, name: str) -> None:
        """Drop the finished jobs of a deleted Application (a running one finishes)."""
        with self._lock:
            for key in [k for k in self._jobs if k[:2] == (namespace, name)]:
                if self._jobs[key].done():
                    del self._jobs[key]
