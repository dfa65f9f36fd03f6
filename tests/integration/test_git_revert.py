"""Rollbacks that Git remembers (spec.rollback.gitRevert), end to end: the operator rolls
a failed revision back, pushes its revert to a real Git server (git http-backend
receive-pack behind basic auth), records it, and syncs the revert once it arrives
through the repository."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from githostrecorder import GitHostRecorder
from gitops_operator.api import API_VERSION
from gitserver import GitHTTPServer

from .apps import application, configmap, deployment
from .receivers import Receiver
from .support import GitRepo, condition, custom, events_with, get_status, git, wait_for
from .test_notifications import alert, watch_ready
from .test_notifications import provider as notification_provider
from .test_reconcile import get, synced_to
from .test_rollback import reconciled_again, rolled_back

READ = ("reader", "read-secret")
WRITE = ("writer", "write-secret")


@pytest.fixture(scope="module")
def push_server(tmp_path_factory) -> Iterator[GitHTTPServer]:
    root = tmp_path_factory.mktemp("revert") / "repos"
    root.mkdir()
    with GitHTTPServer(root, auth=READ, push_auth=WRITE) as server:
        yield server


@pytest.fixture
def remote(push_server) -> GitRepo:
    name = f"v-{uuid.uuid4().hex[:8]}"
    return GitRepo.create(push_server.root, name, push_server.url(f"{name}.git"))


@pytest.fixture
def github() -> Iterator[GitHostRecorder]:
    recorder = GitHostRecorder("github").start()
    yield recorder
    recorder.stop()


@pytest.fixture(params=["github", "gitlab", "gitea"])
def host(request: pytest.FixtureRequest) -> Iterator[GitHostRecorder]:
    recorder = GitHostRecorder(request.param).start()
    yield recorder
    recorder.stop()


def provider(namespace: str, kind: str, address: str) -> dict[str, Any]:
    return {
        "apiVersion": "gitops-operator.dev/v1alpha1",
        "kind": "Provider",
        "metadata": {"name": "host", "namespace": namespace},
        "spec": {"type": kind, "address": address, "secretRef": {"name": "host-token"}},
    }


def secret(
    namespace: str, name: str, user: str = "", password: str = "", **data: str
) -> dict[str, Any]:
    data = {"username": user, "password": password} if user else data
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def start(
    kube, namespace: str, remote: GitRepo, account: str = "", **git_revert: Any
) -> tuple[str, str]:
    """A good revision synced, then one whose pods never turn ready: rolled back. Returns
    (good, failed) SHAs."""
    kube.apply(secret(namespace, "git-read", *READ))
    kube.apply(
        {
            "apiVersion": "gitops-operator.dev/v1alpha1",
            "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {
                "url": remote.url,
                "ref": {"branch": "main"},
                "interval": "2s",
                "secretRef": {"name": "git-read"},
            },
        }
    )
    good = remote.commit({"app/web.yaml": deployment("web"), "app/cm.yaml": configmap("s")}, "ok")
    rollback = {"gitRevert": {"secretRef": {"name": "git-write"}, **git_revert}}
    spec = {"serviceAccountName": account} if account else {}
    kube.apply(application(namespace, healthTimeout="6s", rollback=rollback, **spec))
    wait_for(
        lambda: synced_to(kube, namespace, good),
        timeout=90,  # the first test of a session also waits for the operator to start
        what="the good revision",
        error=lambda m: AssertionError(
            f"{m}; {get_status(kube, 'Application', namespace, 'app')}"
            f" {get_status(kube, 'GitRepository', namespace, 'app')}"
        ),
    )
    failed = remote.commit(
        {"app/web.yaml": deployment("web", never_ready=True), "app/new.yaml": configmap("new")},
        "pods never become ready",
    )
    wait_for(lambda: rolled_back(kube, namespace), timeout=60, what="RolledBack")
    return good, failed


def revert_state(kube, namespace: str, *states: str) -> dict[str, Any] | None:
    status = get_status(kube, "Application", namespace, "app")
    return status if (status.get("gitRevert") or {}).get("state") in states else None


def on_server(remote: GitRepo, *args: str) -> str:
    return git(remote.bare, *args)


def test_the_revert_is_pushed_to_a_branch_and_synced_once_merged(
    kube, operator, remote, namespace, push_server
):
    kube.apply(secret(namespace, "git-write", *WRITE))
    good, failed = start(kube, namespace, remote)
    status = wait_for(lambda: revert_state(kube, namespace, "Pushed"), timeout=120, what="Pushed")

    record = status["gitRevert"]
    branch = f"gitops-operator/revert-{failed[:12]}"
    assert (record["revision"], record["revertTo"]) == (f"main@sha1:{failed}", f"main@sha1:{good}")
    assert record["branch"] == branch and record["pushedAt"]
    commit = record["commit"]
    assert on_server(remote, "rev-parse", f"refs/heads/{branch}") == commit
    assert on_server(remote, "rev-parse", f"{commit}^{{tree}}") == on_server(
        remote, "rev-parse", f"{good}^{{tree}}"
    )
    assert on_server(remote, "rev-parse", f"{commit}^") == failed
    message = on_server(remote, "log", "-1", "--format=%B", commit)
    assert f"{namespace}/app" in message and f"{good}..{failed}" in message
    assert on_server(remote, "rev-parse", "refs/heads/main") == failed, "main is left alone"
    entry = status["history"][0]
    assert entry["result"] == "RolledBack"
    assert entry["gitRevert"] == {"state": "Pushed", "commit": commit, "branch": branch}
    assert condition(status, "GitReverted")["status"] == "True"
    pushed = events_with(kube, namespace, "app", "GitRevertPushed")
    assert branch in pushed[0]["message"] and commit[:12] in pushed[0]["message"]

    # held at the last good revision until the revert arrives; pushed once only
    pushes = push_server.requests["push"]
    status = reconciled_again(kube, namespace)
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    assert status["gitRevert"]["commit"] == commit
    assert push_server.requests["push"] == pushes
    assert get(kube, "ConfigMap", namespace, "new") is None

    # the revert branch merged (a fast-forward): the revert syncs like any commit
    git(remote.work, "fetch", "-q", "origin", branch)
    git(remote.work, "merge", "-q", "--ff-only", "FETCH_HEAD")
    git(remote.work, "push", "-q", "origin", "HEAD:main")
    wait_for(lambda: synced_to(kube, namespace, commit), timeout=60, what="the revert synced")
    status = get_status(kube, "Application", namespace, "app")
    assert condition(status, "RolledBack") == {} and "failedRevision" not in status
    assert get(kube, "ConfigMap", namespace, "new") is None


def test_the_revert_onto_the_tracked_branch_arrives_and_syncs(kube, operator, remote, namespace):
    kube.apply(secret(namespace, "git-write", *WRITE))
    good, failed = start(kube, namespace, remote, target="TrackedBranch")
    status = wait_for(lambda: revert_state(kube, namespace, "Pushed"), timeout=120, what="Pushed")
    commit = status["gitRevert"]["commit"]
    assert status["gitRevert"]["branch"] == "main"
    assert on_server(remote, "rev-parse", "refs/heads/main") == commit
    assert on_server(remote, "rev-parse", "main^") == failed
    tree = on_server(remote, "rev-parse", f"{good}^{{tree}}")
    assert on_server(remote, "rev-parse", "main^{tree}") == tree
    wait_for(lambda: synced_to(kube, namespace, commit), timeout=60, what="the revert synced")
    assert get(kube, "ConfigMap", namespace, "new") is None
    status = get_status(kube, "Application", namespace, "app")
    assert status["gitRevert"]["state"] == "Pushed", "the record stays"


def test_without_the_secret_nothing_is_pushed_and_the_rollback_stands(
    kube, operator, remote, namespace, push_server
):
    pushes = push_server.requests["push"]
    good, failed = start(kube, namespace, remote)

    def reported():
        status = get_status(kube, "Application", namespace, "app")
        reverted = condition(status, "GitReverted")
        return status if reverted.get("reason") == "SecretNotFound" else None

    status = wait_for(reported, timeout=120, what="GitReverted=False SecretNotFound")
    assert condition(status, "GitReverted")["status"] == "False"
    assert "git-write" in condition(status, "GitReverted")["message"]
    assert status["lastAppliedRevision"] == f"main@sha1:{good}", "the rollback stands"
    assert condition(status, "RolledBack")["status"] == "True"
    assert events_with(kube, namespace, "app", "GitRevertFailed")[0]["type"] == "Warning"
    assert push_server.requests["push"] == pushes
    heads = on_server(remote, "for-each-ref", "--format=%(refname)", "refs/heads")
    assert heads.split() == ["refs/heads/main"]
    assert failed


def test_credentials_without_push_rights_are_reported_and_push_nothing(
    kube, operator, remote, namespace, push_server
):
    kube.apply(secret(namespace, "git-write", *READ))  # can read, cannot write
    pushes = push_server.requests["push"]
    good, _ = start(kube, namespace, remote)
    status = wait_for(lambda: revert_state(kube, namespace, "Failed"), timeout=120, what="Failed")
    assert status["gitRevert"]["reason"] == "PushRefused"
    reverted = condition(status, "GitReverted")
    assert (reverted["status"], reverted["reason"]) == ("False", "PushRefused")
    assert "read-secret" not in str(status)
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    assert push_server.requests["push"] == pushes
    heads = on_server(remote, "for-each-ref", "--format=%(refname)", "refs/heads")
    assert heads.split() == ["refs/heads/main"]


def test_a_pull_request_is_opened_through_the_provider_once(
    kube, operator, remote, namespace, host
):
    kube.apply(secret(namespace, "git-write", *WRITE))
    kube.apply(secret(namespace, "host-token", token=host.token))
    kube.apply(provider(namespace, host.kind, f"{host.url}/org/app"))
    good, failed = start(kube, namespace, remote, providerRef={"name": "host"})
    status = wait_for(lambda: revert_state(kube, namespace, "Pushed"), timeout=120, what="Pushed")

    branch = f"gitops-operator/revert-{failed[:12]}"
    [opened] = host.pull_requests
    assert (opened["head"]["ref"], opened["base"]["ref"]) == (branch, "main")
    assert (
        f"{good[:12]}..{failed[:12]}" in opened["title"] and f"{namespace}/app" in opened["title"]
    )
    url = status["gitRevert"]["pullRequest"]
    assert url and status["history"][0]["gitRevert"]["pullRequest"] == url
    assert url in events_with(kube, namespace, "app", "PullRequestOpened")[0]["message"]
    assert condition(status, "GitReverted")["reason"] == "GitRevertPushed"
    reconciled_again(kube, namespace)
    assert len(host.pull_requests) == 1, "opened once"


def test_a_provider_that_refuses_leaves_the_branch_pushed_and_says_why(
    kube, operator, remote, namespace, github
):
    kube.apply(secret(namespace, "git-write", *WRITE))
    kube.apply(secret(namespace, "host-token", token="not-the-token"))
    kube.apply(provider(namespace, "github", f"{github.url}/org/app"))
    _, failed = start(kube, namespace, remote, providerRef={"name": "host"})
    status = wait_for(lambda: revert_state(kube, namespace, "Pushed"), timeout=120, what="Pushed")
    branch = f"gitops-operator/revert-{failed[:12]}"
    assert on_server(remote, "rev-parse", f"refs/heads/{branch}") == status["gitRevert"]["commit"]
    assert github.pull_requests == []
    reverted = condition(status, "GitReverted")
    assert reverted["reason"] == "PullRequestFailed" and "401" in reverted["message"]
    assert "not-the-token" not in str(status)
    failed_events = events_with(kube, namespace, "app", "GitRevertFailed")
    assert "pull request was not opened" in failed_events[0]["message"]


def test_a_restart_between_the_push_and_its_record_pushes_nothing_twice(
    kube, operator, remote, namespace, push_server
):
    kube.apply(secret(namespace, "git-write", *WRITE))
    start(kube, namespace, remote)
    status = wait_for(lambda: revert_state(kube, namespace, "Pushed"), timeout=120, what="Pushed")
    commit, pushes = status["gitRevert"]["commit"], push_server.requests["push"]
    # as if the operator stopped after pushing, before writing what it pushed
    record = {**status["gitRevert"], "state": "Pending", "commit": None, "pushedAt": None}
    kube.patch_status(API_VERSION, custom("Application", namespace, "app"), {"gitRevert": record})
    reconciled_again(kube, namespace)
    status = wait_for(lambda: revert_state(kube, namespace, "Pushed"), timeout=120, what="Pushed")
    assert status["gitRevert"]["commit"] == commit
    assert push_server.requests["push"] == pushes, "found on the branch, not pushed again"


def test_a_rewritten_tracked_branch_is_reported_and_never_forced(kube, operator, remote, namespace):
    kube.apply(secret(namespace, "git-write", *WRITE))
    kube.apply(secret(namespace, "git-read", *READ))
    good = remote.commit({"app/cm.yaml": configmap("s", v="1")}, "good")
    kube.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {
                "url": remote.url,
                "ref": {"branch": "main"},
                "interval": "2s",
                "secretRef": {"name": "git-read"},
            },
        }
    )
    rollback = {"gitRevert": {"secretRef": {"name": "git-write"}, "target": "TrackedBranch"}}
    kube.apply(application(namespace, healthTimeout="8s", rollback=rollback))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="the good revision")
    remote.commit({"app/web.yaml": deployment("web", never_ready=True)}, "never ready")
    wait_for(
        lambda: get_status(kube, "Application", namespace, "app").get("health") == "Progressing",
        timeout=30,
        what="the bad revision applied",
    )
    # the repository stops being read, and main is rewritten behind the operator's back
    kube.patch(API_VERSION, custom("GitRepository", namespace, "app"), {"spec": {"suspend": True}})
    git(remote.work, "reset", "-q", "--hard", good)
    git(remote.work, "commit", "-q", "--allow-empty", "-m", "rewritten")
    git(remote.work, "push", "-q", "--force", "origin", "HEAD:main")
    rewritten = on_server(remote, "rev-parse", "refs/heads/main")

    status = wait_for(lambda: revert_state(kube, namespace, "Failed"), timeout=120, what="Failed")
    assert status["gitRevert"]["reason"] == "BranchDiverged"
    reverted = condition(status, "GitReverted")
    assert (reverted["status"], reverted["reason"]) == ("False", "BranchDiverged")
    assert on_server(remote, "rev-parse", "refs/heads/main") == rewritten, "not forced"
    assert status["lastAppliedRevision"] == f"main@sha1:{good}", "the rollback stands"


def test_a_manual_rollback_pushes_nothing(kube, operator, remote, namespace, push_server):
    kube.apply(secret(namespace, "git-write", *WRITE))
    kube.apply(secret(namespace, "git-read", *READ))
    first = remote.commit({"app/cm.yaml": configmap("s", v="1")}, "one")
    kube.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {
                "url": remote.url,
                "ref": {"branch": "main"},
                "interval": "2s",
                "secretRef": {"name": "git-read"},
            },
        }
    )
    app = application(namespace, rollback={"gitRevert": {"secretRef": {"name": "git-write"}}})
    kube.apply(app)
    wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="first")
    second = remote.commit({"app/cm.yaml": configmap("s", v="2")}, "two")
    wait_for(lambda: synced_to(kube, namespace, second), timeout=60, what="second")
    pushes = push_server.requests["push"]
    app["metadata"]["annotations"] = {
        "gitops-operator.dev/rollbackTo": first[:10],
        "gitops-operator.dev/rollbackAt": "2025-01-01T00:00:00.000000Z",
    }
    kube.apply(app)
    wait_for(lambda: rolled_back(kube, namespace), timeout=30, what="manual rollback")
    status = reconciled_again(kube, namespace)
    assert "gitRevert" not in status and condition(status, "GitReverted") == {}
    assert push_server.requests["push"] == pushes
    assert on_server(remote, "rev-parse", "refs/heads/main") == second


def test_the_write_secret_is_read_with_the_application_s_own_rights(
    kube, operator, remote, namespace, push_server
):
    kube.apply(secret(namespace, "git-write", *WRITE))
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "tenant", "namespace": namespace},
        }
    )
    rules = [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
    ]  # and no Secrets
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "tenant", "namespace": namespace},
            "rules": rules,
        }
    )
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "tenant", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant"},
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
        }
    )
    pushes = push_server.requests["push"]
    good, _ = start(kube, namespace, remote, account="tenant")
    status = wait_for(lambda: revert_state(kube, namespace, "Failed"), timeout=120, what="Failed")
    reverted = condition(status, "GitReverted")
    assert (reverted["status"], reverted["reason"]) == ("False", "Forbidden")
    assert f"system:serviceaccount:{namespace}:tenant" in reverted["message"]
    assert status["lastAppliedRevision"] == f"main@sha1:{good}", "the rollback stands"
    assert push_server.requests["push"] == pushes


def test_the_pushed_revert_reaches_an_alert(kube, operator, remote, namespace):
    """The push is told where people listen: an Alert on GitRevertPushed gets the branch
    and the commit through its Provider."""

    with Receiver() as receiver:
        kube.apply(notification_provider(namespace, "hook", "generic", receiver.url + "/hook"))
        kube.apply(alert(namespace, "reverts", "hook", eventReasons=["GitRevertPushed"]))
        watch_ready(kube, namespace, "hook")
        kube.apply(secret(namespace, "git-write", *WRITE))
        _, failed = start(kube, namespace, remote)
        status = wait_for(
            lambda: revert_state(kube, namespace, "Pushed"), timeout=120, what="Pushed"
        )
        got = wait_for(
            lambda: [r for r in receiver.received if r.json.get("reason") == "GitRevertPushed"],
            timeout=30,
            what="the GitRevertPushed notification",
        )
        body = got[0].json
        assert body["involvedObject"]["name"] == "app"
        assert status["gitRevert"]["branch"] in body["message"]
        assert status["gitRevert"]["commit"][:12] in body["message"]
        assert failed[:12] in body["message"]
        assert all(r.json.get("reason") == "GitRevertPushed" for r in receiver.received)
