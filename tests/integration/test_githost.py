"""The Git host client against recorders of the GitHub, GitLab and Gitea REST APIs
(hack/githostrecorder.py); a real Gitea is exercised in test_gitea.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from githostrecorder import GitHostRecorder
from gitops_operator.githost import GitHost, GitHostError, host_repo

KINDS = ["github", "gitlab", "gitea"]


@pytest.fixture(params=KINDS)
def recorder(request: pytest.FixtureRequest) -> Iterator[GitHostRecorder]:
    rec = GitHostRecorder(request.param).start()
    yield rec
    rec.stop()


def client(rec: GitHostRecorder, token: str | None = None) -> GitHost:
    return GitHost(host_repo(rec.kind, f"{rec.url}/org/app", token or rec.token), timeout=5)


def test_a_commit_status_reaches_the_host_in_its_own_words(recorder: GitHostRecorder) -> None:
    host = client(recorder)
    host.set_status("a" * 40, "pending", context="gitops-operator/ns/app", description="Syncing")
    host.set_status("a" * 40, "failure", context="gitops-operator/ns/app", description="x" * 300)
    first, second = recorder.statuses
    assert (first["sha"], first["state"], first["context"]) == (
        "a" * 40,
        "pending",
        "gitops-operator/ns/app",
    )
    assert second["state"] == ("failed" if recorder.kind == "gitlab" else "failure")
    assert len(second["description"]) <= 140


def test_a_pull_request_is_opened_once_for_the_same_branches(recorder: GitHostRecorder) -> None:
    host = client(recorder)
    first = host.open_pull_request(head="revert/abc", base="main", title="Revert", body="why")
    again = host.open_pull_request(head="revert/abc", base="main", title="Revert", body="why")
    other = host.open_pull_request(head="revert/def", base="main", title="Revert", body="why")
    assert first == again
    assert other.number != first.number
    assert len(recorder.pull_requests) == 2
    assert first.url.startswith(recorder.url)


def test_a_comment_is_edited_in_place_on_the_next_call(recorder: GitHostRecorder) -> None:
    host = client(recorder)
    marker = "<!-- gitops-operator:ns/app -->"
    host.upsert_comment(7, marker=marker, body="plan one")
    url = host.upsert_comment(7, marker=marker, body="plan two")
    host.upsert_comment(7, marker="<!-- gitops-operator:ns/other -->", body="other app")
    mine = [c for c in recorder.comments if marker in c["body"]]
    assert len(mine) == 1
    assert mine[0]["body"].startswith("plan two") and mine[0]["edited"] == 1
    assert len(recorder.comments) == 2
    assert url


def test_a_refused_token_is_an_error_that_does_not_hold_it(recorder: GitHostRecorder) -> None:
    host = client(recorder, token="wrong-secret-token")
    with pytest.raises(GitHostError) as refused:
        host.set_status("b" * 40, "success", context="c", description="d")
    assert refused.value.status == 401
    assert "wrong-secret-token" not in str(refused.value)
    assert not recorder.statuses


def test_an_unreachable_host_is_an_error_without_a_status_code() -> None:
    rec = GitHostRecorder("github").start()
    host = client(rec)
    rec.stop()
    with pytest.raises(GitHostError) as down:
        host.set_status("c" * 40, "success", context="c", description="d")
    assert down.value.status is None


def test_a_redirect_is_refused_and_the_token_not_sent_on() -> None:
    seen: list[str | None] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_POST(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(201)
            self.end_headers()

        do_GET = do_POST

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://127.0.0.1:{elsewhere.server_address[1]}/collect"

    class Redirecting(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_POST(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()

    host_server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (elsewhere, host_server):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        address = f"http://127.0.0.1:{host_server.server_address[1]}/org/app"
        host = GitHost(host_repo("github", address, "secret-token"), timeout=5)
        with pytest.raises(GitHostError) as refused:
            host.set_status("d" * 40, "success", context="c", description="d")
        assert refused.value.status == 302
        assert seen == []
    finally:
        for server in (elsewhere, host_server):
            server.shutdown()
            server.server_close()
