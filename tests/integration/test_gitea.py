"""A real Gitea (hack/giteaserver.py, built from the Go module proxy by
hack/build-gitea.sh): the Git host client's commit statuses, pull requests and comments
as Gitea itself records them, and a push webhook Gitea itself delivers to the operator."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from giteaserver import GiteaServer, gitea_binary
from gitops_operator.githost import GitHost, GitHostError, host_repo

from .apps import application, configmap, repository
from .support import get_status, wait_for
from .test_reconcile import synced_to
from .test_sources import secret
from .test_webhooks import listening

pytestmark = pytest.mark.skipif(
    gitea_binary() is None, reason="Gitea is not built: run `make binaries` (hack/build-gitea.sh)"
)


@pytest.fixture(scope="module")
def gitea(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GiteaServer]:
    with GiteaServer(tmp_path_factory.mktemp("gitea")) as server:
        yield server


@pytest.fixture
def name(gitea: GiteaServer) -> str:
    """A fresh repository on the Gitea with one commit on main."""
    repo = f"app-{uuid.uuid4().hex[:8]}"
    gitea.create_repo(repo)
    gitea.push(repo, {"app/a.yaml": configmap("a", v="1")}, message="first")
    return repo


def client(gitea: GiteaServer, repo: str, token: str | None = None) -> GitHost:
    return GitHost(host_repo("gitea", gitea.repo_url(repo), token or gitea.token), timeout=10)


def test_a_pushed_repository_round_trips(gitea: GiteaServer, tmp_path: Path) -> None:
    repo = f"trip-{uuid.uuid4().hex[:8]}"
    made = gitea.create_repo(repo)
    assert made["clone_url"] == gitea.clone_url(repo)
    first = gitea.push(repo, {"app/a.yaml": configmap("a", v="1")})
    second = gitea.push(repo, {"app/a.yaml": configmap("a", v="2")}, branch="feature")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", gitea.clone_url(repo), str(clone)], check=True)
    assert (clone / "app/a.yaml").read_text() == configmap("a", v="1")
    heads = subprocess.run(
        ["git", "ls-remote", "--heads", gitea.clone_url(repo)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert dict(zip(heads[1::2], heads[::2], strict=True)) == {
        "refs/heads/main": first,
        "refs/heads/feature": second,
    }


def test_a_status_goes_from_pending_to_success_on_the_commit(gitea: GiteaServer, name: str) -> None:
    sha = gitea.push(name, {"app/b.yaml": configmap("b")})
    host = client(gitea, name)
    context = "gitops-operator/ns/app"
    host.set_status(sha, "pending", context=context, description="Progressing")
    combined = gitea.combined_status(name, sha)
    assert combined["state"] == "pending"
    assert [(s["context"], s["status"]) for s in combined["statuses"]] == [(context, "pending")]
    host.set_status(
        sha,
        "success",
        context=context,
        description="Applied main@sha1:" + sha,
        target_url="http://127.0.0.1:1/ns/app",
    )
    combined = gitea.combined_status(name, sha)
    assert combined["state"] == "success"
    (latest,) = combined["statuses"]  # one line per context: the later state replaced it
    assert (latest["context"], latest["status"], latest["target_url"]) == (
        context,
        "success",
        "http://127.0.0.1:1/ns/app",
    )
    assert latest["description"].startswith("Applied main@sha1:")
    history = sorted(gitea.statuses(name, sha), key=lambda s: s["id"])
    assert [s["status"] for s in history] == ["pending", "success"], "both were recorded"
    later = gitea.push(name, {"app/b.yaml": configmap("b", v="2")})
    assert not gitea.combined_status(name, later)["statuses"], "only that commit is marked"


def test_a_failure_of_one_application_fails_the_commit(gitea: GiteaServer, name: str) -> None:
    sha = gitea.push(name, {"app/c.yaml": configmap("c")})
    host = client(gitea, name)
    host.set_status(sha, "success", context="gitops-operator/ns/one", description="Applied")
    host.set_status(sha, "failure", context="gitops-operator/ns/two", description="Failed")
    combined = gitea.combined_status(name, sha)
    assert combined["state"] == "failure"
    assert sorted((s["context"], s["status"]) for s in combined["statuses"]) == [
        ("gitops-operator/ns/one", "success"),
        ("gitops-operator/ns/two", "failure"),
    ]


def test_a_pull_request_is_opened_once(gitea: GiteaServer, name: str) -> None:
    gitea.push(name, {"app/a.yaml": configmap("a", v="reverted")}, branch="revert/abc1234")
    host = client(gitea, name)
    first = host.open_pull_request(
        head="revert/abc1234", base="main", title="Revert abc1234", body="rolled back"
    )
    again = host.open_pull_request(
        head="revert/abc1234", base="main", title="Revert abc1234", body="rolled back"
    )
    assert again == first
    (pull,) = gitea.pull_requests(name)
    assert (pull["number"], pull["html_url"], pull["state"]) == (first.number, first.url, "open")
    assert (pull["head"]["ref"], pull["base"]["ref"], pull["title"]) == (
        "revert/abc1234",
        "main",
        "Revert abc1234",
    )
    assert first.url == f"{gitea.repo_url(name)}/pulls/{first.number}"


def test_a_comment_is_added_then_edited_in_place(gitea: GiteaServer, name: str) -> None:
    gitea.push(name, {"app/a.yaml": configmap("a", v="2")}, branch="feature")
    number = int(gitea.open_pull_request(name, "feature")["number"])
    host = client(gitea, name)
    marker = "<!-- gitops-operator:ns/app -->"
    url = host.upsert_comment(number, marker=marker, body="plan one")
    (comment,) = gitea.comments(name, number)
    assert "plan one" in comment["body"] and marker in comment["body"]
    assert url == comment["html_url"]
    again = host.upsert_comment(number, marker=marker, body="plan two")
    host.upsert_comment(number, marker="<!-- gitops-operator:ns/other -->", body="other app")
    mine, other = gitea.comments(name, number)
    assert (mine["id"], again) == (comment["id"], url), "the same comment, edited"
    assert "plan two" in mine["body"] and "plan one" not in mine["body"]
    assert "other app" in other["body"]


def test_a_refused_token_is_an_error_that_does_not_show_it(gitea: GiteaServer, name: str) -> None:
    wrong = "0" * 40
    with pytest.raises(GitHostError) as refused:
        client(gitea, name, token=wrong).set_status(
            "a" * 40, "pending", context="gitops-operator/ns/app", description="x"
        )
    assert refused.value.status == 401
    assert wrong not in str(refused.value)


def test_a_push_gitea_delivers_brings_the_new_commit(
    gitea: GiteaServer, name: str, kube, operator, namespace
) -> None:
    """Gitea itself signs and delivers the push webhook to the operator's receiver: the
    repository polls once an hour, so only the delivery can bring the new commit soon."""
    first = gitea.push(name, {"app/a.yaml": configmap("a", v="2")})
    hook_secret = f"whsec-{uuid.uuid4().hex}"
    kube.apply(secret(namespace, "gitea-hook", token=hook_secret))
    source = repository(namespace, gitea.clone_url(name), interval="1h")
    source["spec"]["webhook"] = {"secretRef": {"name": "gitea-hook"}}
    kube.apply(source)
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="first sync")
    wait_for(lambda: listening(operator.webhook_port), timeout=60, what="the webhook receiver")
    receiver = f"http://127.0.0.1:{operator.webhook_port}/hooks/gitea/{namespace}/app"
    gitea.add_webhook(name, receiver, hook_secret, events=("push",))
    second = gitea.push(name, {"app/a.yaml": configmap("a", v="3")}, message="second")
    wait_for(lambda: synced_to(kube, namespace, second), timeout=60, what="the pushed commit")
    delivery = get_status(kube, "GitRepository", namespace, "app")["lastDelivery"]
    assert (delivery["provider"], delivery["verified"], delivery["triggered"]) == (
        "gitea",
        True,
        True,
    )
    assert delivery["ref"] == "refs/heads/main"
    assert delivery["deliveryID"], "Gitea's X-Gitea-Delivery"
