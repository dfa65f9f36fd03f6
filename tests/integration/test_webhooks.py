"""Push webhooks reach the operator's own receiver and trigger the right repositories."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import urllib.error
import urllib.request
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gitops_operator.objects import ObjectRef

from .apps import application, configmap, repository
from .support import get_status, wait_for
from .test_reconcile import synced_to
from .test_sources import secret

GITHUB_SECRET = "whsec-github-7d1e"
GITLAB_SECRET = "whsec-gitlab-22b9"


@pytest.fixture(scope="module")
def receivers(kube, operator):
    kube.apply(secret("default", "webhook-receivers", github=GITHUB_SECRET, gitlab=GITLAB_SECRET))
    time.sleep(0.1)
    wait_for(lambda: listening(operator.webhook_port), timeout=60, what="the webhook receiver")


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def fetched(kube, namespace: str) -> bool:
    """The operator has seen the GitRepository (so its webhook index has too)."""
    return bool(get_status(kube, "GitRepository", namespace, "app").get("artifact"))


def post(operator, provider: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{operator.webhook_port}/hooks/{provider}",
        data=body,
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, {}


def github_push(url: str, sha: str, ref: str = "refs/heads/main") -> bytes:
    return json.dumps(
        {
            "ref": ref,
            "after": sha,
            "repository": {"clone_url": url, "html_url": url.removesuffix(".git")},
        }
    ).encode()


def signed(body: bytes, key: str = GITHUB_SECRET, delivery: str = "") -> dict[str, str]:
    """GitHub's headers for ``body``; a fresh delivery ID unless one is given."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def test_signed_push_applies_a_commit_without_waiting_for_the_poll(
    kube, operator, repo, namespace, receivers
):
    first = repo.commit({"app/a.yaml": configmap("a", v="1")})
    kube.apply(repository(namespace, repo.url, interval="1h"))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="first sync")
    second = repo.commit({"app/a.yaml": configmap("a", v="2")})
    body = github_push(repo.url, second)
    started = time.monotonic()
    status, answer = post(operator, "github", body, signed(body))
    assert (status, answer) == (202, {"triggered": 1})
    wait_for(lambda: synced_to(kube, namespace, second), timeout=30, what="pushed commit")
    assert time.monotonic() - started < 10, "the 1h poll interval did not matter"
    delivery = get_status(kube, "GitRepository", namespace, "app")["lastDelivery"]
    assert (delivery["provider"], delivery["verified"], delivery["triggered"]) == (
        "github",
        True,
        True,
    )


def test_the_commit_a_payload_names_is_never_recorded_as_fact(
    kube, operator, repo, namespace, receivers
):
    head = repo.commit({"app/a.yaml": configmap("a")})
    kube.apply(repository(namespace, repo.url, interval="1h"))
    wait_for(lambda: fetched(kube, namespace), timeout=60, what="the repository fetched")
    claimed = "f" * 40  # a commit that exists nowhere: the payload is a hint, not a fact
    body = github_push(repo.url, claimed)
    assert post(operator, "github", body, signed(body))[1] == {"triggered": 1}

    def recorded() -> dict | None:
        status = get_status(kube, "GitRepository", namespace, "app")
        return status if status.get("lastDelivery") else None

    status = wait_for(recorded, timeout=30, what="the delivery recorded")
    assert claimed not in json.dumps(status)
    assert status["artifact"]["sha"] == head, "only what the operator fetched itself"


def test_a_replayed_delivery_wakes_nothing_and_is_counted(
    kube, operator, repo, namespace, receivers
):
    repo.commit({"app/a.yaml": configmap("a")})
    kube.apply(repository(namespace, repo.url, interval="1h"))
    wait_for(lambda: fetched(kube, namespace), timeout=60, what="the repository fetched")
    body = github_push(repo.url, "e" * 40)
    headers = signed(body)
    duplicates = webhook_count(operator, "github", "duplicate")
    assert post(operator, "github", body, headers) == (202, {"triggered": 1})
    # the same signed request again, as anyone who saw it on the way could send it
    assert post(operator, "github", body, headers) == (200, {"triggered": 0, "duplicate": True})
    assert webhook_count(operator, "github", "duplicate") == duplicates + 1
    fresh = signed(body)  # the provider's next delivery carries a new ID
    assert post(operator, "github", body, fresh) == (202, {"triggered": 1})


@pytest.fixture
def other_namespace(kube):
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    kube.delete("v1", ObjectRef("", "Namespace", "", name))


def test_a_repository_with_its_own_secret_is_woken_by_that_secret_alone(
    kube, operator, repo, namespace, other_namespace, receivers
):
    """Tenants a and b watch the same repository; a has its own webhook Secret."""
    repo.commit({"app/a.yaml": configmap("a")})
    own = repository(namespace, repo.url, interval="1h")
    own["spec"]["webhook"] = {"secretRef": {"name": "a-hook"}}
    kube.apply(secret(namespace, "a-hook", token="team-a-token"))
    kube.apply(own)
    kube.apply(repository(other_namespace, repo.url, interval="1h"))
    for tenant in (namespace, other_namespace):
        wait_for(lambda t=tenant: fetched(kube, t), timeout=60, what="the repository fetched")

    def delivery_of(tenant: str) -> str | None:
        last = get_status(kube, "GitRepository", tenant, "app").get("lastDelivery") or {}
        return last.get("deliveryID")

    body = github_push(repo.url, "d" * 40)
    a_signed = signed(body, "team-a-token")
    assert post(operator, f"github/{namespace}/app", body, a_signed) == (202, {"triggered": 1})
    wait_for(lambda: delivery_of(namespace) == a_signed["X-GitHub-Delivery"], timeout=30)
    # a's secret opens no other repository's path, and the shared path no longer wakes a
    assert (
        post(operator, f"github/{other_namespace}/app", body, signed(body, "team-a-token"))[0]
        == 401
    )
    assert post(operator, f"github/{namespace}/app", body, signed(body))[0] == 401
    shared = signed(body)
    assert post(operator, "github", body, shared) == (202, {"triggered": 1})
    wait_for(lambda: delivery_of(other_namespace) == shared["X-GitHub-Delivery"], timeout=30)
    assert delivery_of(namespace) == a_signed["X-GitHub-Delivery"], "a was not woken"


def test_gitlab_token_and_other_branches(kube, operator, repo, namespace, receivers):
    repo.commit({"app/a.yaml": configmap("a")})
    kube.apply(repository(namespace, repo.url, interval="1h"))
    wait_for(lambda: fetched(kube, namespace), timeout=60, what="the repository fetched")
    body = json.dumps(
        {
            "object_kind": "push",
            "ref": "refs/heads/feature",
            "after": "a" * 40,
            "project": {"git_http_url": repo.url},
        }
    ).encode()
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": GITLAB_SECRET}
    assert post(operator, "gitlab", body, headers) == (202, {"triggered": 0})
    main = body.replace(b"refs/heads/feature", b"refs/heads/main")
    assert post(operator, "gitlab", main, headers) == (202, {"triggered": 1})


def test_bad_deliveries_are_refused_and_the_receiver_lives_on(operator, receivers):
    body = github_push("http://127.0.0.1:1/nothing.git", "b" * 40)
    assert post(operator, "github", body, signed(body, "wrong"))[0] == 401
    assert post(operator, "github", body, {"X-GitHub-Event": "push"})[0] == 401
    assert post(operator, "github", b"{not json", signed(b"{not json"))[0] == 400
    huge = b"x" * (2 * 1024 * 1024)
    assert post(operator, "github", huge, signed(huge))[0] == 413
    assert post(operator, "bitbucket", body, {})[0] == 401, "no secret configured"
    assert post(operator, "svn", body, {})[0] == 404
    assert post(operator, "github", body, signed(body)) == (202, {"triggered": 0})
    metrics = (
        urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics").read().decode()
    )
    assert 'gitops_webhook_requests_total{provider="github",result="unauthorized"}' in metrics
    assert operator.alive


def webhook_count(operator, provider: str, result: str) -> float:
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10)
        .read()
        .decode()
    )
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gitops_webhook_requests_total"
        and sample.labels == {"provider": provider, "result": result}
    )


def test_push_nobody_watches_is_counted_as_unmatched_not_accepted(operator, receivers):
    body = github_push("http://127.0.0.1:1/nobody-watches-this.git", "c" * 40)
    before = (
        webhook_count(operator, "github", "unmatched"),
        webhook_count(operator, "github", "accepted"),
    )
    assert post(operator, "github", body, signed(body)) == (202, {"triggered": 0})
    after = (
        webhook_count(operator, "github", "unmatched"),
        webhook_count(operator, "github", "accepted"),
    )
    assert after == (before[0] + 1, before[1])


def test_a_flood_of_refused_deliveries_is_counted_but_logged_once(operator, receivers):
    body = json.dumps({"object_kind": "push", "ref": "refs/heads/main"}).encode()
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guessed-token"}
    refused = webhook_count(operator, "gitlab", "unauthorized")
    lines = operator.logs().count("provider=gitlab reason=unauthorized")
    for _ in range(200):
        assert post(operator, "gitlab", body, headers)[0] == 401
    assert webhook_count(operator, "gitlab", "unauthorized") == refused + 200
    assert operator.logs().count("provider=gitlab reason=unauthorized") - lines <= 1
    assert "guessed-token" not in operator.logs()
