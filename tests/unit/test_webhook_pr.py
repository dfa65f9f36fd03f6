"""Pull-request deliveries: which events and actions ask for a plan, what is read of a
payload (only the repository, the number and a head-SHA hint), and how the receiver
answers them (verified and replay-checked as pushes are)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gitops_operator.errors import WebhookError
from gitops_operator.receiver import PushRouter
from gitops_operator.webhook import (
    Provider,
    PullRequestEvent,
    PushEvent,
    make_app,
    parse_pull_request,
)

SECRET = b"pr-secret"
SHA = "c0ffee" + "0" * 34
URL = "https://git.example.com/ops/deploy.git"


def github(action: str = "opened", number: Any = 7, sha: str = SHA) -> bytes:
    return json.dumps(
        {
            "action": action,
            "number": number,
            "pull_request": {"number": number, "title": "x", "head": {"sha": sha, "ref": "f"}},
            "repository": {"clone_url": URL, "html_url": URL.removesuffix(".git")},
        }
    ).encode()


def gitlab(action: str = "open", iid: Any = 4) -> bytes:
    return json.dumps(
        {
            "object_kind": "merge_request",
            "project": {"git_http_url": URL, "web_url": URL.removesuffix(".git")},
            "object_attributes": {"iid": iid, "action": action, "last_commit": {"id": SHA}},
        }
    ).encode()


def headers(provider: Provider, body: bytes, event: str, delivery: str = "d-1") -> dict[str, str]:
    digest = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if provider is Provider.GITHUB:
        return {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": f"sha256={digest}",
        }
    if provider is Provider.GITEA:
        return {"X-Gitea-Event": event, "X-Gitea-Delivery": delivery, "X-Gitea-Signature": digest}
    return {"X-Gitlab-Event": event, "Idempotency-Key": delivery, "X-Gitlab-Token": SECRET.decode()}


@pytest.mark.parametrize(
    ("provider", "event", "action", "wanted"),
    [
        (Provider.GITHUB, "pull_request", "opened", True),
        (Provider.GITHUB, "pull_request", "synchronize", True),
        (Provider.GITHUB, "pull_request", "reopened", True),
        (Provider.GITHUB, "pull_request", "closed", False),
        (Provider.GITHUB, "pull_request", "labeled", False),
        (Provider.GITEA, "pull_request", "opened", True),
        (Provider.GITEA, "pull_request_sync", "synchronized", True),
        (Provider.GITEA, "pull_request", "closed", False),
    ],
)
def test_github_and_gitea_actions_that_move_the_head_ask_for_a_plan(
    provider: Provider, event: str, action: str, wanted: bool
) -> None:
    body = github(action)
    parsed = parse_pull_request(provider, headers(provider, body, event), body)
    if not wanted:
        assert parsed is None
        return
    assert parsed == PullRequestEvent(
        provider, frozenset({"git.example.com/ops/deploy"}), 7, action, SHA, "d-1"
    )
    assert parsed.head_ref == "refs/pull/7/head"


@pytest.mark.parametrize(
    ("action", "wanted"), [("open", True), ("update", True), ("reopen", True), ("merge", False)]
)
def test_gitlab_merge_requests_ask_for_a_plan_on_a_new_head(action: str, wanted: bool) -> None:
    body = gitlab(action)
    parsed = parse_pull_request(
        Provider.GITLAB, headers(Provider.GITLAB, body, "Merge Request Hook"), body
    )
    assert (parsed is not None) == wanted
    if parsed is not None:
        assert (parsed.number, parsed.sha) == (4, SHA)
        assert parsed.head_ref == "refs/merge-requests/4/head"


@pytest.mark.parametrize("number", [0, -1, "7", True, 2**31, None, 1.5])
def test_a_number_that_is_not_a_pull_request_number_is_refused(number: Any) -> None:
    body = github(number=number)
    with pytest.raises(WebhookError) as err:
        parse_pull_request(Provider.GITHUB, headers(Provider.GITHUB, body, "pull_request"), body)
    assert err.value.status == 400


def test_a_head_sha_that_is_not_a_sha_is_dropped_not_kept() -> None:
    body = github(sha="main; rm -rf /")
    parsed = parse_pull_request(
        Provider.GITHUB, headers(Provider.GITHUB, body, "pull_request"), body
    )
    assert parsed is not None and parsed.sha == ""


def test_a_push_is_not_a_pull_request() -> None:
    body = github()
    assert parse_pull_request(Provider.GITHUB, headers(Provider.GITHUB, body, "push"), body) is None
    assert (
        parse_pull_request(Provider.BITBUCKET, {"X-Event-Key": "pullrequest:created"}, body) is None
    )


# --- the receiver ---------------------------------------------------------------------------


class Calls:
    def __init__(self) -> None:
        self.pushes: list[PushEvent] = []
        self.pulls: list[PullRequestEvent] = []
        self.results: list[str] = []

    async def on_push(self, event: PushEvent, target: Any) -> int:
        self.pushes.append(event)
        return 1

    async def on_pull_request(self, event: PullRequestEvent, target: Any) -> int:
        self.pulls.append(event)
        return 1


def exchange(calls: Calls, deliveries: list[tuple[Provider, bytes, dict[str, str]]]) -> list[Any]:
    app = make_app(
        lambda provider, target: SECRET,
        calls.on_push,
        on_pull_request=calls.on_pull_request,
        on_result=lambda provider, result: calls.results.append(result),
    )

    async def main() -> list[Any]:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        answers = []
        try:
            async with aiohttp.ClientSession() as session:
                for provider, body, sent in deliveries:
                    url = f"http://127.0.0.1:{port}/hooks/{provider}"
                    async with session.post(url, data=body, headers=sent) as resp:
                        answers.append((resp.status, await resp.json()))
        finally:
            await runner.cleanup()
        return answers

    return asyncio.run(main())


def test_the_receiver_queues_a_verified_pull_request_once_and_ignores_other_actions() -> None:
    calls = Calls()
    body, closed = github(), github("closed")
    forged = {**headers(Provider.GITHUB, body, "pull_request", "d-2")}
    forged["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    answers = exchange(
        calls,
        [
            (Provider.GITHUB, body, headers(Provider.GITHUB, body, "pull_request")),
            (Provider.GITHUB, body, headers(Provider.GITHUB, body, "pull_request")),  # replay
            (Provider.GITHUB, closed, headers(Provider.GITHUB, closed, "pull_request", "d-3")),
            (Provider.GITHUB, body, forged),
        ],
    )
    assert [a[0] for a in answers] == [202, 200, 200, 401]
    assert answers[2][1] == {"triggered": 0, "ignored": True}
    assert [e.number for e in calls.pulls] == [7] and calls.pushes == []
    assert calls.results == ["accepted", "duplicate", "ignored", "unauthorized"]


class NoCluster:
    def get(self, api_version: str, ref: Any) -> dict[str, Any] | None:
        return None

    def patch_status(self, api_version: str, ref: Any, status: dict[str, Any]) -> None:
        raise AssertionError("not expected")


def test_only_repositories_that_opted_in_plan_and_own_secrets_keep_their_path() -> None:
    router = PushRouter(NoCluster())
    spec = {"url": URL, "ref": {"branch": "main"}}
    router.track(("a", "opted-in"), {**spec, "pullRequests": {"providerRef": {"name": "gh"}}})
    router.track(("a", "off"), {**spec, "pullRequests": {"enabled": False, "providerRef": {}}})
    router.track(("a", "plain"), spec)
    own = {**spec, "pullRequests": {"providerRef": {"name": "gh"}}}
    router.track(("b", "own"), {**own, "webhook": {"secretRef": {"name": "hook"}}})
    event = PullRequestEvent(Provider.GITHUB, frozenset({"git.example.com/ops/deploy"}), 1, "", "")
    assert router.match_pull_request(event) == [("a", "opted-in")]
    assert router.match_pull_request(event, ("b", "own")) == [("b", "own")]
    other = PullRequestEvent(Provider.GITHUB, frozenset({"git.example.com/ops/else"}), 1, "", "")
    assert router.match_pull_request(other) == []
