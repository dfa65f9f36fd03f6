"""Git sources against real servers: auth over HTTPS and SSH, refs, request counts."""

from __future__ import annotations

import base64
import shutil
import socket
import time
import uuid

import pytest

from gitops_operator.objects import ObjectRef
from gitserver import GitHTTPServer
from sshserver import SSHGitServer

from .apps import application, configmap, repository
from .support import GitRepo, condition, events_for, get_status, git, wait_for
from .test_reconcile import synced_to


def secret(namespace: str, name: str, **data: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def repo_status(kube, namespace, name="app"):
    return get_status(kube, "GitRepository", namespace, name)


def repo_failed(kube, namespace, name="app"):
    cond = condition(repo_status(kube, namespace, name))
    return cond if cond.get("status") == "False" else None


@pytest.fixture
def private_http(git_root):
    with GitHTTPServer(git_root, auth=("git", "basic-pass-9f3a"), bearer="tok-4c1d-secret") as s:
        yield s


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_https_credentials_from_a_secret(kube, operator, repo, namespace, private_http, auth):
    sha = repo.commit({"app/a.yaml": configmap("a")})
    name = repo.bare.name
    data = (
        {"username": "git", "password": "basic-pass-9f3a"}
        if auth == "basic"
        else {"bearerToken": "tok-4c1d-secret"}
    )
    kube.apply(secret(namespace, "git-auth", **data))
    source = repository(namespace, private_http.url(name))
    kube.apply(source)
    cond = wait_for(lambda: repo_failed(kube, namespace), timeout=30, what="401 without creds")
    assert cond["reason"] == "AuthenticationFailed" and "set spec.secretRef" in cond["message"]
    source["spec"]["secretRef"] = {"name": "git-auth"}
    kube.apply(source)
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced with creds")


def test_ssh_with_key_and_mandatory_known_hosts(kube, operator, repo, namespace):
    sha = repo.commit({"app/a.yaml": configmap("a")})
    with SSHGitServer() as ssh:
        kube.apply(secret(namespace, "ssh-no-hosts", identity=ssh.identity))
        source = repository(namespace, ssh.url(repo.bare))
        source["spec"]["secretRef"] = {"name": "ssh-no-hosts"}
        kube.apply(source)
        cond = wait_for(
            lambda: repo_failed(kube, namespace), timeout=30, what="refused without known_hosts"
        )
        assert cond["reason"] == "InvalidSecret" and "known_hosts" in cond["message"]

        other_host = SSHGitServer()._keygen("unrelated").with_suffix(".pub").read_text().split()
        wrong = f"[127.0.0.1]:22 {other_host[0]} {other_host[1]}"
        kube.apply(
            secret(
                namespace,
                "ssh-wrong",
                identity=ssh.identity,
                known_hosts=wrong.replace(":22", f":{ssh.port}"),
            )
        )
        source["spec"]["secretRef"] = {"name": "ssh-wrong"}
        kube.apply(source)
        cond = wait_for(
            lambda: (
                (c := repo_failed(kube, namespace))
                and "Host key verification failed" in c["message"]
                and c
            ),
            timeout=30,
            what="host key verification failure",
        )

        kube.apply(
            secret(namespace, "ssh-good", identity=ssh.identity, known_hosts=ssh.known_hosts)
        )
        source["spec"]["secretRef"] = {"name": "ssh-good"}
        kube.apply(source)
        kube.apply(application(namespace))
        wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced over ssh")


def test_tags_semver_ranges_and_pinned_commits(kube, operator, repo, namespace):
    shas = {}
    for version in ("v1.0.0", "v1.2.0", "v2.0.0"):
        shas[version] = repo.commit({"app/a.yaml": configmap("a", version=version)}, version)
        git(repo.work, "tag", "-a", version, "-m", version)
    git(repo.work, "push", "-q", "origin", "--tags")
    source = repository(namespace, repo.url)
    source["spec"]["ref"] = {"semver": ">=1.0.0 <2.0.0", "branch": "main"}
    kube.apply(source)
    kube.apply(application(namespace))
    wait_for(
        lambda: (
            get_status(kube, "Application", namespace, "app").get("lastAppliedRevision")
            == f"v1.2.0@sha1:{shas['v1.2.0']}"
        ),
        timeout=60,
        what="the highest tag in range",
    )
    later = repo.commit({"app/a.yaml": configmap("a", version="v1.3.0")}, "v1.3.0")
    git(repo.work, "tag", "-a", "v1.3.0", "-m", "v1.3.0")
    git(repo.work, "push", "-q", "origin", "v1.3.0")
    wait_for(
        lambda: (
            get_status(kube, "Application", namespace, "app").get("lastAppliedRevision")
            == f"v1.3.0@sha1:{later}"
        ),
        timeout=60,
        what="a new tag in range",
    )

    source["spec"]["ref"] = {"tag": "v1.0.0"}
    kube.apply(source)
    wait_for(
        lambda: (
            get_status(kube, "Application", namespace, "app").get("lastAppliedRevision")
            == f"v1.0.0@sha1:{shas['v1.0.0']}"
        ),
        timeout=60,
        what="the tag",
    )
    source["spec"]["ref"] = {"commit": shas["v2.0.0"], "branch": "main"}
    kube.apply(source)
    wait_for(
        lambda: (
            get_status(kube, "Application", namespace, "app").get("lastAppliedRevision")
            == f"sha1:{shas['v2.0.0']}"
        ),
        timeout=60,
        what="the pinned commit",
    )


def test_one_fetch_per_commit_and_only_ls_remote_when_unchanged(
    kube, operator, git_root, namespace
):
    with GitHTTPServer(git_root) as server:
        name = f"count-{uuid.uuid4().hex[:6]}"
        repo = GitRepo.create(git_root, name, server.url(f"{name}.git"))
        sha = repo.commit({"app/a.yaml": configmap("a")})
        kube.apply(repository(namespace, repo.url, interval="1s"))
        for i in range(3):
            kube.apply(application(namespace, name=f"app{i}"))
        wait_for(
            lambda: all(synced_to(kube, namespace, sha, f"app{i}") for i in range(3)),
            timeout=60,
            what="three applications synced",
        )
        assert server.requests["fetch"] == 1
        polls_before = server.requests["ls-refs"]
        time.sleep(5)
        assert server.requests["fetch"] == 1, "an unchanged remote is never fetched"
        polls = server.requests["ls-refs"] - polls_before
        assert 3 <= polls <= 6, f"one ls-remote per 1s interval, got {polls} in 5s"
        sha = repo.commit({"app/a.yaml": configmap("a", v="2")})
        wait_for(
            lambda: all(synced_to(kube, namespace, sha, f"app{i}") for i in range(3)),
            timeout=60,
            what="the new commit everywhere",
        )
        assert server.requests["fetch"] == 2


def test_fetch_timeout_is_reported(kube, operator, git_root, repo, namespace):
    repo.commit({"app/a.yaml": configmap("a")})
    with GitHTTPServer(git_root, delay=5) as slow:
        source = repository(namespace, slow.url(repo.bare.name))
        source["spec"]["timeout"] = "1s"
        kube.apply(source)
        cond = wait_for(lambda: repo_failed(kube, namespace), timeout=30, what="a timeout")
        assert "timed out" in cond["message"]


def test_credentials_never_reach_logs_status_events_or_metrics(
    kube, operator, namespace, private_http, repo
):
    import urllib.request

    token = "ghp_leak" + uuid.uuid4().hex
    kube.apply(secret(namespace, "wrong", username="git", password=token))
    bad = repository(namespace, private_http.url(repo.bare.name), name="with-secret")
    bad["spec"]["secretRef"] = {"name": "wrong"}
    kube.apply(bad)
    in_url = repository(namespace, f"http://bot:{token}@127.0.0.1:9/x.git", name="in-url")
    kube.apply(in_url)
    wait_for(
        lambda: (
            repo_failed(kube, namespace, "with-secret") and repo_failed(kube, namespace, "in-url")
        ),
        timeout=30,
        what="both failing",
    )
    time.sleep(3)  # a few retries
    captured = [
        operator.logs(),
        str(repo_status(kube, namespace, "with-secret")),
        str(repo_status(kube, namespace, "in-url")),
        str(kube.list("v1", "Event", namespace)),
        urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics").read().decode(),
    ]
    for text in captured:
        assert token not in text
    assert "127.0.0.1:9" in condition(repo_status(kube, namespace, "in-url"))["message"]


def test_removed_repository_keeps_serving_the_last_artifact(kube, operator, repo, namespace):
    sha = repo.commit({"app/a.yaml": configmap("a")})
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")
    shutil.move(repo.bare, repo.bare.with_suffix(".moved"))
    wait_for(lambda: repo_failed(kube, namespace), timeout=30, what="Git failing")
    assert repo_status(kube, namespace)["artifact"]["sha"] == sha
    assert get_status(kube, "Application", namespace, "app")["lastAppliedRevision"].endswith(sha)


@pytest.mark.parametrize("host", ["localhost", "0x7f000001"])
def test_a_url_naming_this_machine_is_refused_before_any_connection(
    kube, operator, namespace, host
):
    """The operator allows 127.0.0.1 (its test Git servers) and nothing else internal:
    another spelling of loopback is refused, and the listener proves nothing connected."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    try:
        port = listener.getsockname()[1]
        kube.apply(repository(namespace, f"http://{host}:{port}/r.git"))
        cond = wait_for(lambda: repo_failed(kube, namespace), timeout=30, what="refused")
        assert cond["reason"] == "HostNotAllowed" and "GITOPS_ALLOWED_GIT_HOSTS" in cond["message"]

        def warnings():
            return [e for e in events_for(kube, namespace, "app") if e["type"] == "Warning"]

        assert any(e["reason"] == "HostNotAllowed" for e in wait_for(warnings, what="an Event"))
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


def test_a_sha_learned_from_another_tenant_does_not_serve_its_tree(kube, operator, repo, namespace):
    """Another namespace pins the SHA with a URL that cannot serve it: it must fetch it
    itself, fails, and its Application applies nothing."""
    sha = repo.commit({"app/a.yaml": configmap("tenant-a-only")})
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="the owner synced")
    other = f"t-{uuid.uuid4().hex[:8]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    try:
        source = repository(other, "http://127.0.0.1:9/unreachable.git")
        source["spec"]["ref"] = {"commit": sha}
        kube.apply(source)
        kube.apply(application(other))
        cond = wait_for(lambda: repo_failed(kube, other), timeout=30, what="the fetch failing")
        assert cond["reason"] == "GitOperationFailed"
        time.sleep(3)
        assert not repo_status(kube, other).get("artifact")
        assert kube.get("v1", ObjectRef("", "ConfigMap", other, "tenant-a-only")) is None
    finally:
        kube.delete("v1", ObjectRef("", "Namespace", "", other))
