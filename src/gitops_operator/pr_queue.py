"""Pull-request plans off the webhook request: the receiver answers 202 at once, and each
(repository, pull request) has at most one plan running; a newer push to it while one
runs replaces any plan still waiting, so the last head is planned last and the comment
ends up describing it. Plans run on the reconcile pool, ``CONCURRENT_PLANS`` at a time,
at most ``MAX_QUEUED`` pull requests waiting, each within ``PLAN_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from . import metrics
from .reconcilers.outcome import Event
from .reconcilers.pr_report import PullRequestRun, plan_pull_request
from .reconcilers.run import Logger
from .runtime import Key, Runtime
from .status_writer import now
from .webhook import PullRequestEvent, Target

log = logging.getLogger(__name__)

PLAN_TIMEOUT = 120.0
"""Seconds one pull request's plan may take; Applications not reached by then are not
planned (and named so in the repository's status)."""
MAX_QUEUED = 64
"""(repository, pull request) pairs planned or waiting at most; more are dropped."""
CONCURRENT_PLANS = 2
"""Plans running at once (each plans its Applications one after another)."""
_RESULTS = {
    "PullRequestPlanned": "planned",
    "PullRequestPlanFailed": "failed",
    "PullRequestPlanSkipped": "skipped",
}


@dataclass
class PlanQueue:
    """At most one running plan per (repository, number), and one waiting (the newest)."""

    run: Callable[[PullRequestRun], Awaitable[None]]
    max_queued: int = MAX_QUEUED
    concurrency: int = CONCURRENT_PLANS
    _active: set[tuple[Key, int]] = field(default_factory=set)
    _waiting: dict[tuple[Key, int], PullRequestRun] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _slots: asyncio.Semaphore | None = None

    def submit(self, job: PullRequestRun) -> bool:
        """Plan ``job`` soon; False when too many pull requests are queued already."""
        key = (job.repository, job.number)
        if key in self._active:
            self._waiting[key] = job  # supersedes the one waiting, if any
            return True
        if len(self._active) >= self.max_queued:
            return False
        self._active.add(key)
        task = asyncio.get_running_loop().create_task(self._drain(key, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _drain(self, key: tuple[Key, int], job: PullRequestRun | None) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        try:
            while job is not None:
                async with self._slots:
                    try:
                        await self.run(job)
                    except Exception:
                        log.exception("pull-request plan of %s #%d failed", *key)
                job = self._waiting.pop(key, None)
        finally:
            self._active.discard(key)
            self._waiting.pop(key, None)

    async def idle(self) -> None:
        """Wait until every plan submitted so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def pull_request_handler(
    runtime: Runtime, logger: Logger
) -> Callable[[PullRequestEvent, Target], Awaitable[int]]:
    """The receiver's ``on_pull_request``: queue a plan for every repository that plans
    the pull request; answer how many."""

    async def run(job: PullRequestRun) -> None:
        deadline = time.monotonic() + PLAN_TIMEOUT

        def work() -> Event:
            return plan_pull_request(
                runtime.applications, job, now=now(), deadline=deadline, logger=logger
            )

        try:
            event = await asyncio.wait_for(runtime.call(work), timeout=PLAN_TIMEOUT + 30.0)
        except TimeoutError:
            event = Event(
                "PullRequestPlanTimedOut",
                f"pull request #{job.number}: the plan took longer than {PLAN_TIMEOUT:.0f}s",
                warning=True,
            )
        except Exception:  # a bug: counted and logged, the receiver and the queue live on
            metrics.count_pull_request_plan("error")
            raise
        metrics.count_pull_request_plan(_RESULTS.get(event.reason, "error"))
        logger.info("pull request #%d of %s/%s: %s", job.number, *job.repository, event.message)

    queue = PlanQueue(run)

    async def on_pull_request(event: PullRequestEvent, target: Target) -> int:
        keys = runtime.router.match_pull_request(event, target)
        for key in keys:
            apps = tuple(sorted(runtime.apps_by_source.get(key, ())))
            job = PullRequestRun(key, event.number, event.head_ref, apps)
            if not queue.submit(job):
                metrics.count_pull_request_plan("dropped")
                what = f"pull request #{event.number} of {key[0]}/{key[1]}"
                logger.warning("%s dropped: too many plans queued", what)
        logger.info(
            "pull request #%d (%s, delivery %s) queued for %d repositories",
            event.number,
            event.action,
            event.delivery or "-",
            len(keys),
        )
        return len(keys)

    return on_pull_request
