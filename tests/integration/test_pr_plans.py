"""Pull-request plans (GitRepository spec.pullRequests): a signed pull-request webhook to
the running operator's receiver makes it render the pull request's head, dry-run it
against the live cluster and post the diff, as a comment and a commit status, to a
recorder of the GitHub REST API (hack/githostrecorder.py: GitHub cannot be reached from
here). The pull request's head is a real ref (refs/pull/N/head) on the real Git server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from githostrecorder import GitHostRecorder
from gitops_operator.api import API_VERSION
from gitops_operator.objects import ObjectRef

from .apps import application, configmap, repository
from .support import GitRepo, events_with, get_status, git, wait_for
from .test_reconcile import synced_to
from .test_sources import secret
from .test_webhooks import GITHUB_SECRET, GITLAB_SECRET, post, receivers

__all__ = ["receivers"]  # the receivers' Secret, a fixture of test_webhooks

SECRET_VALUE = "hunter2-live"
SECRET_IN_PR = "correct-horse-in-pr"


@pytest.fixture
def github() -> Iterator[GitHostRecorder]:
    rec = GitHostRecorder("github").start()
    yield rec
    rec.stop()


def secret_manifest(value: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"password": value},
        }
    )


def planned_repository(namespace: str, url: str) -> dict[str, Any]:
    repo = repository(namespace, url, interval="1h")
    repo["spec"]["pullRequests"] = {"providerRef": {"name": "github"}}
    return repo


def provider(namespace: str, rec: GitHostRecorder) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Provider",
        "metadata": {"name": "github", "namespace": namespace},
        "spec": {"type": rec.kind, "address": f"{rec.url}/org/app", "secretRef": {"name": "gh"}},
    }


def push_pull_request(repo: GitRepo, number: int, files: dict[str, str], base: str) -> str:
    """Commit ``files`` on top of ``base`` and push it as the host keeps a pull request's
    head: refs/pull/N/head. The tracked branch is left as it was."""
    git(repo.work, "checkout", "-q", base)
    for rel, text in files.items():
        path = repo.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo.work, "add", "-A")
    git(repo.work, "commit", "-q", "-m", f"pull request {number}")
    git(repo.work, "push", "-q", "-f", "origin", f"HEAD:refs/pull/{number}/head")
    sha = git(repo.work, "rev-parse", "HEAD")
    git(repo.work, "checkout", "-q", "main")
    return sha


def pull_request_event(url: str, number: int, sha: str, action: str = "opened") -> bytes:
    return json.dumps(
        {
            "action": action,
            "number": number,
            "pull_request": {
                "number": number,
                "title": "ignore me: never recorded",
                "head": {"sha": sha, "ref": "feature"},
                "base": {"ref": "main"},
            },
            "repository": {"clone_url": url, "html_url": url.removesuffix(".git")},
        }
    ).encode()


def signed_pull_request(body: bytes) -> dict[str, str]:
    digest = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def status_for(rec: GitHostRecorder, sha: str, namespace: str) -> dict[str, Any] | None:
    """The plan's final commit status of ``sha`` (not the ``pending`` one meanwhile)."""
    context = f"gitops-operator/plan/{namespace}/app"
    found = [
        s
        for s in rec.statuses
        if s["sha"] == sha and s["context"] == context and s["state"] != "pending"
    ]
    return found[-1] if found else None


def plans_counted(operator, result: str) -> float:
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10)
        .read()
        .decode()
    )
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gitops_pull_request_plans_total" and sample.labels == {"result": result}
    )


def versions(kube, namespace: str) -> list[str]:
    """The live objects' resourceVersions: any write, even a no-op apply, would move one."""
    return [
        (kube.get("v1", ObjectRef("", kind, namespace, name)) or {})["metadata"]["resourceVersion"]
        for kind, name in (("ConfigMap", "settings"), ("Secret", "creds"))
    ]


def live_data(kube, namespace: str) -> tuple[dict[str, str], str]:
    cm = kube.get("v1", ObjectRef("", "ConfigMap", namespace, "settings")) or {}
    sec = kube.get("v1", ObjectRef("", "Secret", namespace, "creds")) or {}
    password = base64.b64decode((sec.get("data") or {}).get("password", "")).decode()
    return dict(cm.get("data") or {}), password


def start(kube, repo: GitRepo, namespace: str, rec: GitHostRecorder, **app_spec: Any) -> str:
    """An Application synced from main, its repository planning pull requests through a
    Provider pointing at ``rec``; the SHA synced."""
    first = repo.commit(
        {
            "app/settings.yaml": configmap("settings", level="info", mode="a"),
            "app/creds.yaml": secret_manifest(SECRET_VALUE),
        }
    )
    kube.apply(secret(namespace, "gh", token=rec.token))
    kube.apply(provider(namespace, rec))
    kube.apply(planned_repository(namespace, repo.url))
    kube.apply(application(namespace, **app_spec))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="first sync")
    return first


@pytest.fixture
def synced(kube, operator, repo, namespace, receivers, github):
    return start(kube, repo, namespace, github)


def test_a_pull_request_gets_its_diff_as_a_comment_and_a_status_and_nothing_changes(
    kube, operator, repo, namespace, synced, github
):
    changes = {
        "app/settings.yaml": configmap("settings", level="debug", mode="a"),
        "app/creds.yaml": secret_manifest(SECRET_IN_PR),
        "app/extra.yaml": configmap("extra", added="yes"),
    }
    before = versions(kube, namespace)
    head = push_pull_request(repo, 1, changes, "main")
    body = pull_request_event(repo.url, 1, head)
    assert post(operator, "github", body, signed_pull_request(body)) == (202, {"triggered": 1})

    status = wait_for(lambda: status_for(github, head, namespace), timeout=60, what="a status")
    assert status["state"] == "success", status
    assert status["description"] == "plans cleanly: 1 added, 2 changed"
    pending = [s for s in github.statuses if s["sha"] == head and s["state"] == "pending"]
    assert pending, "the head was marked pending while it was planned"
    [comment] = [c for c in github.comments if c["number"] == 1]
    text = comment["body"]
    assert f"<!-- gitops-operator:plan:{namespace}/app -->" in text
    assert "data.level" in text and '"debug"' in text and '"info"' in text
    assert f"ConfigMap {namespace}/extra" in text and "added" in text
    assert "*** (changed)" in text, "the Secret's changed key is shown, masked"
    assert SECRET_IN_PR not in text and SECRET_VALUE not in text
    assert "mode" not in text, "an unchanged field is not part of the diff"

    assert live_data(kube, namespace) == ({"level": "info", "mode": "a"}, SECRET_VALUE)
    assert versions(kube, namespace) == before, "nothing was written"
    assert kube.get("v1", ObjectRef("", "ConfigMap", namespace, "extra")) is None
    record = get_status(kube, "GitRepository", namespace, "app")["lastPullRequestPlan"]
    assert (record["number"], record["sha"], record["result"]) == (1, head, "Planned")
    assert "ignore me" not in json.dumps(record), "no payload text is recorded"
    events_with(kube, namespace, "app", "PullRequestPlanned")
    assert plans_counted(operator, "planned") >= 1

    # a second push to the same pull request edits the same comment
    again = push_pull_request(
        repo, 1, {"app/settings.yaml": configmap("settings", level="warn", mode="a")}, head
    )
    body = pull_request_event(repo.url, 1, again, action="synchronize")
    assert post(operator, "github", body, signed_pull_request(body))[0] == 202
    status = wait_for(lambda: status_for(github, again, namespace), timeout=60, what="a status")
    assert status["state"] == "success"
    [comment] = [c for c in github.comments if c["number"] == 1]
    assert comment["edited"] >= 1
    assert '"warn"' in comment["body"] and '"debug"' not in comment["body"]
    assert live_data(kube, namespace) == ({"level": "info", "mode": "a"}, SECRET_VALUE)


def test_a_pull_request_that_does_not_render_fails_its_status_and_applies_nothing(
    kube, operator, repo, namespace, synced, github
):
    head = push_pull_request(repo, 2, {"app/broken.yaml": "kind: [unclosed\n"}, "main")
    body = pull_request_event(repo.url, 2, head)
    assert post(operator, "github", body, signed_pull_request(body))[0] == 202
    status = wait_for(lambda: status_for(github, head, namespace), timeout=60, what="a status")
    assert status["state"] == "failure"
    assert "does not render" in status["description"]
    [comment] = [c for c in github.comments if c["number"] == 2]
    assert "does not render" in comment["body"]
    record = get_status(kube, "GitRepository", namespace, "app")["lastPullRequestPlan"]
    assert (record["number"], record["sha"], record["result"]) == (2, head, "Failed")
    assert live_data(kube, namespace) == ({"level": "info", "mode": "a"}, SECRET_VALUE)
    events_with(kube, namespace, "app", "PullRequestPlanFailed")
    app_status = get_status(kube, "Application", namespace, "app")
    assert app_status["lastAppliedRevision"] == f"main@sha1:{synced}", "the sync is untouched"


def test_a_closed_pull_request_is_ignored(kube, operator, repo, namespace, synced, github):
    head = push_pull_request(repo, 3, {"app/extra.yaml": configmap("extra")}, "main")
    body = pull_request_event(repo.url, 3, head, action="closed")
    answer = post(operator, "github", body, signed_pull_request(body))
    assert answer == (200, {"triggered": 0, "ignored": True})
    forged = pull_request_event(repo.url, 3, head)
    headers = {**signed_pull_request(forged), "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert post(operator, "github", forged, headers)[0] == 401
    time.sleep(2)
    assert not github.statuses and not github.comments


@pytest.fixture
def gitlab() -> Iterator[GitHostRecorder]:
    rec = GitHostRecorder("gitlab").start()
    yield rec
    rec.stop()


def test_a_gitlab_merge_request_is_planned_from_its_merge_request_ref(
    kube, operator, repo, namespace, receivers, gitlab
):
    start(kube, repo, namespace, gitlab)
    head = push_pull_request(
        repo, 5, {"app/settings.yaml": configmap("settings", level="error", mode="a")}, "main"
    )
    git(repo.work, "push", "-q", "origin", f"{head}:refs/merge-requests/5/head")
    git(repo.work, "push", "-q", "origin", ":refs/pull/5/head")  # GitLab keeps only its own
    body = json.dumps(
        {
            "object_kind": "merge_request",
            "project": {"git_http_url": repo.url, "web_url": repo.url.removesuffix(".git")},
            "object_attributes": {"iid": 5, "action": "open", "last_commit": {"id": head}},
        }
    ).encode()
    sent = {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": GITLAB_SECRET}
    assert post(operator, "gitlab", body, sent) == (202, {"triggered": 1})
    status = wait_for(lambda: status_for(gitlab, head, namespace), timeout=60, what="a status")
    assert status["state"] == "success"
    [note] = [c for c in gitlab.comments if c["number"] == 5]
    assert "data.level" in note["body"] and '"error"' in note["body"]
    assert live_data(kube, namespace)[0]["level"] == "info"


def test_the_dry_run_is_the_applications_own_identity(
    kube, operator, repo, namespace, receivers, github
):
    """The Application's ServiceAccount may manage ConfigMaps and Secrets only: a pull
    request adding a Service is refused by the dry run, as its sync would be."""
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "deployer", "namespace": namespace},
        }
    )
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "deployer", "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["*"]}],
        }
    )
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "deployer", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "deployer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
        }
    )
    start(kube, repo, namespace, github, serviceAccountName="deployer")
    service = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"ports": [{"port": 80}]},
        }
    )
    head = push_pull_request(repo, 6, {"app/service.yaml": service}, "main")
    body = pull_request_event(repo.url, 6, head)
    assert post(operator, "github", body, signed_pull_request(body))[0] == 202
    status = wait_for(lambda: status_for(github, head, namespace), timeout=60, what="a status")
    assert status["state"] == "failure"
    assert "Forbidden" in status["description"] or "forbidden" in status["description"]
    [comment] = [c for c in github.comments if c["number"] == 6]
    assert (
        "the dry run refused 1 object(s)" in comment["body"]
        and f"Service/{namespace}/web" in comment["body"]
    )
    assert kube.get("v1", ObjectRef("", "Service", namespace, "web")) is None
    record = get_status(kube, "GitRepository", namespace, "app")["lastPullRequestPlan"]
    assert (record["result"], record["sha"]) == ("Failed", head)


@pytest.fixture
def gitea() -> Iterator[GitHostRecorder]:
    rec = GitHostRecorder("gitea").start()
    yield rec
    rec.stop()


def test_a_gitea_pull_request_on_the_repositorys_own_secret_path(
    kube, operator, repo, namespace, receivers, gitea
):
    """A repository with its own webhook Secret plans what is signed with it, at its own
    path (Gitea's synchronized action); a delivery signed otherwise is refused."""
    own = "own-gitea-secret-41"
    kube.apply(secret(namespace, "app-webhook", token=own))
    start(kube, repo, namespace, gitea)
    planned = planned_repository(namespace, repo.url)
    planned["spec"]["webhook"] = {"secretRef": {"name": "app-webhook"}}
    kube.apply(planned)
    head = push_pull_request(
        repo, 8, {"app/settings.yaml": configmap("settings", level="trace", mode="a")}, "main"
    )
    body = pull_request_event(repo.url, 8, head, action="synchronized")

    def gitea_headers(key: str) -> dict[str, str]:
        return {
            "X-Gitea-Event": "pull_request_sync",
            "X-Gitea-Delivery": str(uuid.uuid4()),
            "X-Gitea-Signature": hmac.new(key.encode(), body, hashlib.sha256).hexdigest(),
        }

    assert post(operator, f"gitea/{namespace}/app", body, gitea_headers("wrong"))[0] == 401

    def accepted() -> tuple[int, dict] | None:
        answer = post(operator, f"gitea/{namespace}/app", body, gitea_headers(own))
        return answer if answer[0] == 202 else None

    status = wait_for(accepted, timeout=20, what="the repository's own secret in the index")
    assert status == (202, {"triggered": 1})
    final = wait_for(lambda: status_for(gitea, head, namespace), timeout=60, what="a status")
    assert final["state"] == "success"
    [comment] = [c for c in gitea.comments if c["number"] == 8]
    assert '"trace"' in comment["body"]


def test_removals_and_a_new_namespace_are_planned_without_deleting_or_creating(
    kube, operator, repo, namespace, receivers, github
):
    """With prune on, a file removed by the pull request is a removed object (its Secret
    values masked); objects in a Namespace the pull request adds are listed as added, not
    validated (they cannot be dry-run before it exists). Nothing is deleted or created."""
    start(kube, repo, namespace, github, prune=True)
    fresh = f"{namespace}-new"
    added = yaml.safe_dump_all(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": fresh}},
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "inside", "namespace": fresh},
                "data": {"k": "v"},
            },
        ]
    )
    git(repo.work, "checkout", "-q", "main")
    git(repo.work, "rm", "-q", "app/creds.yaml")
    head = push_pull_request(repo, 9, {"app/new.yaml": added}, "HEAD")
    git(repo.work, "reset", "-q", "--hard", "origin/main")
    body = pull_request_event(repo.url, 9, head)
    assert post(operator, "github", body, signed_pull_request(body))[0] == 202
    status = wait_for(lambda: status_for(github, head, namespace), timeout=60, what="a status")
    assert status["state"] == "success", status
    [comment] = [c for c in github.comments if c["number"] == 9]
    text = comment["body"]
    assert f"- removed | `Secret {namespace}/creds`" in text
    assert "password: '***'" in text and SECRET_VALUE not in text
    assert f"+ added | `Namespace {fresh}`" in text
    assert f"+ added | `ConfigMap {fresh}/inside`" in text
    assert "1 added object(s) are not validated" in text
    assert live_data(kube, namespace) == ({"level": "info", "mode": "a"}, SECRET_VALUE)
    assert kube.get("v1", ObjectRef("", "Namespace", "", fresh)) is None
