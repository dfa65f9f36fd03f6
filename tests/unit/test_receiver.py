"""Routing verified pushes to the GitRepositories they concern."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gitops_operator.api import GitRef, RefKind
from gitops_operator.objects import ObjectRef
from gitops_operator.receiver import PushRouter, ref_matches
from gitops_operator.webhook import Provider, PushEvent, normalize_repo_url


class SecretsAndStatus:
    """The two calls a router makes: read the receiver Secret, patch a repository's
    status. Counts the reads, keeps the patches."""

    def __init__(self, data: dict[str, bytes], **others: dict[str, bytes]) -> None:
        self.data = {k: base64.b64encode(v).decode() for k, v in data.items()}
        self.others = {  # other Secrets, by "namespace/name"
            name.replace("__", "/"): {k: base64.b64encode(v).decode() for k, v in d.items()}
            for name, d in others.items()
        }
        self.reads = 0
        self.patched: list[tuple[ObjectRef, dict[str, Any]]] = []

    def get(self, api_version: str, ref: ObjectRef) -> dict[str, Any] | None:
        self.reads += 1
        if self.others:
            data = self.others.get(f"{ref.namespace}/{ref.name}")
            return None if data is None else {"data": data}
        return {"data": self.data}

    def patch_status(self, api_version: str, ref: ObjectRef, status: dict[str, Any]) -> None:
        self.patched.append((ref, status))


@pytest.mark.parametrize(
    ("ref", "pushed", "matches"),
    [
        (GitRef(RefKind.BRANCH, "main"), "refs/heads/main", True),
        (GitRef(RefKind.BRANCH, "main"), "refs/heads/mainline", False),
        (GitRef(RefKind.BRANCH, "main"), "refs/tags/main", False),
        (GitRef(RefKind.TAG, "v1"), "refs/tags/v1", True),
        (GitRef(RefKind.TAG, "v1"), "refs/tags/v10", False),
        (GitRef(RefKind.SEMVER, ">=1.0.0"), "refs/tags/v2.0.0", True),
        (GitRef(RefKind.SEMVER, ">=1.0.0"), "refs/heads/main", False),
        (GitRef(RefKind.COMMIT, "a" * 40), "refs/heads/main", False),
    ],
)
def test_a_push_concerns_the_ref_it_moves(ref: GitRef, pushed: str, matches: bool) -> None:
    assert ref_matches(ref, pushed) is matches


def push(url: str, ref: str = "refs/heads/main") -> PushEvent:
    urls = frozenset({normalize_repo_url(url)})
    return PushEvent(Provider.GITHUB, urls, ref, "b" * 40, delivery="d-1")


def test_a_push_triggers_every_repository_of_that_url_and_ref_and_no_other() -> None:
    router = PushRouter(SecretsAndStatus({}))
    url = "https://git.example.com/team/app.git"
    router.track(("a", "app"), {"url": url, "ref": {"branch": "main"}})
    router.track(("b", "app"), {"url": "https://git.example.com/team/app", "ref": {}})
    router.track(("c", "app"), {"url": url, "ref": {"branch": "dev"}})
    router.track(("d", "other"), {"url": "https://git.example.com/team/other.git"})
    router.track(("e", "bad"), {"url": url, "ref": {"commit": "not-a-sha"}})
    assert router.match(push(url)) == [("a", "app"), ("b", "app")]
    router.track(("a", "app"), None)  # deleted
    assert router.match(push(url)) == [("b", "app")]


def test_receiver_secret_is_read_once_per_ttl() -> None:
    kube = SecretsAndStatus({"github": b"s3cr3t"})
    router = PushRouter(kube, secret_ref="ops/webhooks")
    assert router.secret(Provider.GITHUB) == b"s3cr3t"
    assert router.secret(Provider.GITLAB) is None
    assert kube.reads == 1
    assert PushRouter(kube).secret(Provider.GITHUB) is None  # no Secret named: no secret


def test_a_delivery_is_recorded_on_the_repository() -> None:
    kube = SecretsAndStatus({})
    router = PushRouter(kube)
    router.record(("ns", "app"), push("https://x.example/r.git"), "2026-01-01T00:00:00Z")
    [(ref, status)] = kube.patched
    assert (ref.namespace, ref.name, ref.kind) == ("ns", "app", "GitRepository")
    assert status["lastDelivery"]["ref"] == "refs/heads/main"
    assert status["lastDelivery"]["deliveryID"] == "d-1"


def test_the_commit_a_payload_names_is_never_recorded() -> None:
    kube = SecretsAndStatus({})
    PushRouter(kube).record(("ns", "app"), push("https://x.example/r.git"), "2026-01-01T00:00:00Z")
    [(_, status)] = kube.patched
    assert "b" * 40 not in str(status), "the payload's SHA is a claim, not a fetched fact"
    assert status["lastDelivery"]["sha"] is None, "an older version's value is removed"


URL = "https://git.example.com/team/app.git"


def tenants() -> PushRouter:
    """Team a's repository has its own webhook Secret; team b's and c's use the shared one."""
    kube = SecretsAndStatus(
        {},
        ops__webhooks={"github": b"shared"},
        team_a__hook={"token": b"a-token"},
    )
    router = PushRouter(kube, secret_ref="ops/webhooks")
    own = {"webhook": {"secretRef": {"name": "hook"}}}
    router.track(("team_a", "app"), {"url": URL, **own})
    router.track(("team_b", "app"), {"url": URL})
    router.track(("team_c", "app"), {"url": URL, "webhook": {"secretRef": {"name": "none"}}})
    return router


def test_a_repository_with_its_own_secret_is_woken_only_through_its_own_path() -> None:
    router = tenants()
    assert router.match(push(URL)) == [("team_b", "app")], "the shared path skips team a"
    assert router.match(push(URL), ("team_a", "app")) == [("team_a", "app")]
    assert router.match(push(URL), ("team_b", "app")) == [], "no secret of its own"
    assert router.match(push("https://elsewhere/x.git"), ("team_a", "app")) == []


def test_each_path_is_verified_with_its_own_secret() -> None:
    router = tenants()
    assert router.secret(Provider.GITHUB) == b"shared"
    assert router.secret(Provider.GITHUB, ("team_a", "app")) == b"a-token"
    assert router.secret(Provider.GITLAB, ("team_a", "app")) == b"a-token", "one token"
    assert router.secret(Provider.GITHUB, ("team_b", "app")) is None, "it has none"
    assert router.secret(Provider.GITHUB, ("team_c", "app")) is None, "its Secret is missing"
    assert router.secret(Provider.GITHUB, ("nobody", "app")) is None


def test_a_repository_on_its_default_branch_hears_every_branch_push() -> None:
    # which branch is the default is the remote's to say; a push may have moved it
    assert ref_matches(GitRef(RefKind.BRANCH, ""), "refs/heads/master")
    assert not ref_matches(GitRef(RefKind.BRANCH, ""), "refs/tags/v1")
