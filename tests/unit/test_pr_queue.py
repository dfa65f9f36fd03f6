"""Pull-request plans run off the request, one at a time per pull request, the newest
head last; the queue is bounded. And what a plan reads of a GitRepository and a Provider."""

from __future__ import annotations

import asyncio

import pytest

from gitops_operator.api.pull_requests import (
    HostProvider,
    PullRequests,
    parse_host_provider,
    parse_pull_requests,
)
from gitops_operator.errors import InvalidSpecError
from gitops_operator.pr_queue import PlanQueue
from gitops_operator.reconcilers.pr_report import PullRequestRun


def job(number: int, head: str, repository: tuple[str, str] = ("ns", "repo")) -> PullRequestRun:
    return PullRequestRun(repository, number, head, ())


def test_a_newer_push_supersedes_the_waiting_one_and_runs_after_the_running_one() -> None:
    ran: list[str] = []
    running: list[str] = []
    overlap: list[int] = []

    async def main() -> None:
        release = asyncio.Event()

        async def run(j: PullRequestRun) -> None:
            running.append(j.head_ref)
            overlap.append(sum(1 for r in running if r.startswith(str(j.number))))
            if j.head_ref == "1-a":
                await release.wait()
            ran.append(j.head_ref)
            running.remove(j.head_ref)

        queue = PlanQueue(run)
        assert queue.submit(job(1, "1-a"))
        await asyncio.sleep(0)
        assert queue.submit(job(1, "1-b"))  # waits for 1-a ...
        assert queue.submit(job(1, "1-c"))  # ... and is superseded by 1-c
        assert queue.submit(job(2, "2-a"))  # another pull request does not wait
        await asyncio.sleep(0.05)
        assert ran == ["2-a"]
        release.set()
        await asyncio.wait_for(queue.idle(), timeout=5)

    asyncio.run(main())
    assert ran == ["2-a", "1-a", "1-c"]
    assert max(overlap) == 1, "never two plans of one pull request at once"


def test_the_queue_is_bounded_and_a_failing_plan_frees_its_place() -> None:
    async def main() -> tuple[bool, bool, bool]:
        gate = asyncio.Event()

        async def run(j: PullRequestRun) -> None:
            await gate.wait()
            raise RuntimeError("the plan broke")

        queue = PlanQueue(run, max_queued=2)
        first, second = queue.submit(job(1, "a")), queue.submit(job(2, "a"))
        third = queue.submit(job(3, "a"))
        gate.set()
        await asyncio.wait_for(queue.idle(), timeout=5)
        return first and second, third, queue.submit(job(3, "a"))

    accepted, refused, later = asyncio.run(main())
    assert accepted and not refused and later


def test_pull_requests_are_opt_in_and_name_a_provider() -> None:
    assert parse_pull_requests({}) is None
    assert parse_pull_requests({"pullRequests": {"enabled": False}}) is None
    spec = {"pullRequests": {"providerRef": {"name": "gh"}}}
    assert parse_pull_requests(spec) == PullRequests("gh")
    with pytest.raises(InvalidSpecError):
        parse_pull_requests({"pullRequests": {"enabled": True}})


def test_a_provider_must_be_a_git_host_with_a_token() -> None:
    good = {"type": "gitlab", "address": "https://gitlab.example/g/app", "secretRef": {"name": "t"}}
    assert parse_host_provider({"spec": good}, "p") == HostProvider(
        "gitlab", "https://gitlab.example/g/app", "t"
    )
    for bad in (
        {**good, "type": "slack"},
        {**good, "address": "ssh://git@gitlab.example/g/app"},
        {**good, "secretRef": {}},
    ):
        with pytest.raises(InvalidSpecError):
            parse_host_provider({"spec": bad}, "p")
