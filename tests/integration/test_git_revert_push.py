"""The Git side of rollbacks that Git remembers, against real ``git http-backend``
receive-pack behind basic auth: what lands on the server, what is refused, and that
nothing is ever forced."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gitops_operator.errors import FencedError
from gitops_operator.kube import WRITE_FENCE
from gitops_operator.reconcilers.revert_jobs import GitReverts, JobResult, RevertJob
from gitops_operator.source import Credentials, GitSource
from gitops_operator.source.hosts import HostPolicy
from gitops_operator.source.revert import RevertError, RevertPlan, _Session, push_revert
from gitserver import GitHTTPServer
from sshserver import SSHGitServer

from .support import GitRepo, git

READ = ("reader", "read-secret")
WRITE = ("writer", "write-secret")


@pytest.fixture(scope="module")
def push_server(tmp_path_factory) -> Iterator[GitHTTPServer]:
    root = tmp_path_factory.mktemp("push") / "repos"
    root.mkdir()
    with GitHTTPServer(root, auth=READ, push_auth=WRITE) as server:
        yield server


@pytest.fixture
def remote(push_server) -> GitRepo:
    name = f"p-{uuid.uuid4().hex[:8]}"
    return GitRepo.create(push_server.root, name, push_server.url(f"{name}.git"))


def creds(user: str, password: str) -> Credentials:
    return Credentials(username=user, password=password)


def source(tmp_path: Path) -> GitSource:
    return GitSource(tmp_path / "cache", allowed_hosts=HostPolicy.parse(["127.0.0.1"]))


def plan(remote: GitRepo, good: str, failed: str, branch: str = "") -> RevertPlan:
    line = f"Gitops-Operator-Revert: ns/app {good}..{failed}"
    return RevertPlan(
        url=remote.url,
        base="main",
        good=good,
        failed=failed,
        branch=branch or f"gitops-operator/revert-{failed[:12]}",
        message=f"Revert {good[:12]}..{failed[:12]}\n\n{line}\n",
        trailer=line,
        author_name="gitops-operator",
        author_email="bot@example.com",
        timeout=30,
    )


def on_server(remote: GitRepo, *args: str) -> str:
    return git(remote.bare, *args)


def history(remote: GitRepo) -> tuple[str, str, str]:
    good = remote.commit({"app/cm.yaml": "v: 1\n", "app/keep.yaml": "k: 1\n"}, "good")
    remote.commit({"app/cm.yaml": "v: 2\n"}, "bad one")
    failed = remote.commit({"app/extra.yaml": "x: 1\n"}, "bad two")
    return good, failed, on_server(remote, "rev-parse", f"{good}^{{tree}}")


def test_the_revert_lands_on_a_new_branch_with_the_last_good_tree(tmp_path, remote, push_server):
    good, failed, good_tree = history(remote)
    pushes = push_server.requests["push"]
    pushed = push_revert(source(tmp_path), plan(remote, good, failed), creds(*WRITE))

    branch = f"gitops-operator/revert-{failed[:12]}"
    assert (pushed.branch, pushed.reused) == (branch, False)
    assert on_server(remote, "rev-parse", f"refs/heads/{branch}") == pushed.commit
    assert on_server(remote, "rev-parse", f"{pushed.commit}^{{tree}}") == good_tree
    assert on_server(remote, "rev-parse", f"{pushed.commit}^") == failed, "based on the head"
    assert on_server(remote, "rev-parse", "refs/heads/main") == failed, "main untouched"
    message = on_server(remote, "log", "-1", "--format=%B", pushed.commit)
    assert f"ns/app {good}..{failed}" in message
    author = on_server(remote, "log", "-1", "--format=%an <%ae>|%cn", pushed.commit)
    assert author == "gitops-operator <bot@example.com>|gitops-operator"
    assert push_server.requests["push"] == pushes + 1
    assert not list((tmp_path / "cache" / "reverts").iterdir()), "the clone is removed"

    again = push_revert(source(tmp_path), plan(remote, good, failed), creds(*WRITE))
    assert (again.commit, again.reused) == (pushed.commit, True), "found, not pushed twice"
    assert push_server.requests["push"] == pushes + 1


def test_a_branch_that_moved_on_gets_only_the_failed_range_undone(tmp_path, remote):
    good, failed, _ = history(remote)
    later = remote.commit({"app/later.yaml": "l: 1\n"}, "an unrelated change after")
    pushed = push_revert(source(tmp_path), plan(remote, good, failed), creds(*WRITE))
    assert on_server(remote, "rev-parse", f"{pushed.commit}^") == later
    files = on_server(remote, "ls-tree", "-r", "--name-only", pushed.commit).split()
    assert sorted(files) == ["app/cm.yaml", "app/keep.yaml", "app/later.yaml"]
    assert on_server(remote, "show", f"{pushed.commit}:app/cm.yaml") == "v: 1"


def test_read_only_credentials_push_nothing(tmp_path, remote, push_server):
    good, failed, _ = history(remote)
    refused = push_server.requests["push refused"]
    with pytest.raises(RevertError) as err:
        push_revert(source(tmp_path), plan(remote, good, failed), creds(*READ))
    assert err.value.reason == "PushRefused"
    assert "read-secret" not in err.value.message
    assert push_server.requests["push refused"] > refused
    heads = on_server(remote, "for-each-ref", "--format=%(refname)", "refs/heads")
    assert heads.split() == ["refs/heads/main"]


def test_a_diverged_tracked_branch_is_refused_not_forced(tmp_path, remote):
    good, failed, _ = history(remote)
    # main is rewritten: the failed commit is no longer on it
    git(remote.work, "reset", "-q", "--hard", good)
    git(remote.work, "commit", "-q", "--allow-empty", "-m", "rewritten")
    git(remote.work, "push", "-q", "--force", "origin", "HEAD:main")
    rewritten = on_server(remote, "rev-parse", "refs/heads/main")
    with pytest.raises(RevertError) as err:
        push_revert(source(tmp_path), plan(remote, good, failed, branch="main"), creds(*WRITE))
    assert err.value.reason == "BranchDiverged"
    assert on_server(remote, "rev-parse", "refs/heads/main") == rewritten


def test_a_tracked_branch_that_moves_during_the_revert_is_not_forced(tmp_path, remote, monkeypatch):
    good, failed, _ = history(remote)
    push_ref = _Session.push_ref

    def someone_pushes_first(session: _Session, commit: str) -> None:
        remote.commit({"app/race.yaml": "r: 1\n"}, "pushed meanwhile")
        push_ref(session, commit)

    monkeypatch.setattr(_Session, "push_ref", someone_pushes_first)
    with pytest.raises(RevertError) as err:
        push_revert(source(tmp_path), plan(remote, good, failed, branch="main"), creds(*WRITE))
    assert err.value.reason == "NonFastForward"
    assert on_server(remote, "log", "-1", "--format=%s", "refs/heads/main") == "pushed meanwhile"


def test_an_existing_branch_of_that_name_is_reported_not_overwritten(tmp_path, remote):
    good, failed, _ = history(remote)
    branch = f"gitops-operator/revert-{failed[:12]}"
    git(remote.work, "push", "-q", "origin", f"{good}:refs/heads/{branch}")
    with pytest.raises(RevertError) as err:
        push_revert(source(tmp_path), plan(remote, good, failed), creds(*WRITE))
    assert err.value.reason == "BranchExists"
    assert on_server(remote, "rev-parse", f"refs/heads/{branch}") == good


def test_the_revert_onto_the_tracked_branch_is_a_fast_forward(tmp_path, remote):
    good, failed, good_tree = history(remote)
    tracked = replace(plan(remote, good, failed), branch="main")
    pushed = push_revert(source(tmp_path), tracked, creds(*WRITE))
    assert on_server(remote, "rev-parse", "refs/heads/main") == pushed.commit
    assert on_server(remote, "rev-parse", "main^") == failed
    assert on_server(remote, "rev-parse", "main^{tree}") == good_tree
    again = push_revert(source(tmp_path), tracked, creds(*WRITE))
    assert (again.commit, again.reused) == (pushed.commit, True)


def test_the_revert_is_pushed_over_ssh_with_the_secret_identity(tmp_path, remote):
    good, failed, good_tree = history(remote)
    with SSHGitServer() as ssh:
        over_ssh = replace(plan(remote, good, failed), url=ssh.url(remote.bare))
        identity = Credentials(identity=ssh.identity, known_hosts=ssh.known_hosts)
        pushed = push_revert(source(tmp_path), over_ssh, identity)
    assert on_server(remote, "rev-parse", f"refs/heads/{pushed.branch}") == pushed.commit
    assert on_server(remote, "rev-parse", f"{pushed.commit}^{{tree}}") == good_tree


def test_a_branch_already_reverted_by_hand_gets_nothing(tmp_path, remote, push_server):
    good, failed, _ = history(remote)
    git(remote.work, "revert", "--no-edit", f"{good}..{failed}")
    git(remote.work, "push", "-q", "origin", "HEAD:main")
    pushes = push_server.requests["push"]
    pushed = push_revert(source(tmp_path), plan(remote, good, failed), creds(*WRITE))
    assert pushed.commit == "" and "already has the last good tree" in pushed.note
    assert push_server.requests["push"] == pushes
    heads = on_server(remote, "for-each-ref", "--format=%(refname)", "refs/heads")
    assert heads.split() == ["refs/heads/main"]


def run_job(jobs: GitReverts, key, git: GitSource, job: RevertJob, fence) -> JobResult:
    """Submit the job from a pass whose write fence is ``fence``; its result."""
    token = WRITE_FENCE.set(fence)
    try:
        jobs.submit(key, git, job)
    finally:
        WRITE_FENCE.reset(token)
    deadline = time.monotonic() + 60
    while (result := jobs.collect(key)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result is not None, "the job finished"
    return result


def test_a_replica_that_lost_the_application_pushes_no_revert(tmp_path, remote, push_server):
    """The job runs on the revert pool, after the pass: the fence of the pass that started
    it is checked right before the push (sharding: ownership may have moved meanwhile)."""
    good, failed, good_tree = history(remote)
    pushes = push_server.requests["push"]
    jobs, key = GitReverts(), ("ns", "app", "uid", failed)
    job = RevertJob(plan(remote, good, failed), creds(*WRITE))
    owned = False

    def fence() -> None:
        if not owned:
            raise FencedError("Application ns/app is not owned by replica r1")

    refused = run_job(jobs, key, source(tmp_path), job, fence)
    assert isinstance(refused.error, FencedError), refused
    assert push_server.requests["push"] == pushes, "nothing pushed"
    assert on_server(remote, "branch", "--list", "gitops-operator/*") == ""

    owned = True  # ownership back: the same job pushes
    pushed = run_job(jobs, key, source(tmp_path), job, fence).pushed
    assert pushed is not None and pushed.commit
    assert on_server(remote, "rev-parse", f"{pushed.commit}^{{tree}}") == good_tree
    assert push_server.requests["push"] == pushes + 1
