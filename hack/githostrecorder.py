"""A recorder of the GitHub, GitLab and Gitea REST APIs, for tests: GitHub and GitLab
cannot be reached from here, so this serves the few documented endpoints the operator
calls, checks them the way the hosts do (token, required fields, allowed states) and
records what it was sent. It is a recorder of the documented API, not the host.

    rec = GitHostRecorder("github"); rec.start()
    address = f"{rec.url}/org/app"        # a Provider's spec.address
    ... rec.statuses, rec.pull_requests, rec.comments
    rec.stop()

Endpoints (GitHub: https://docs.github.com/rest, under ``/api/v3`` like an Enterprise
server; GitLab: https://docs.gitlab.com/api/, under ``/api/v4``; Gitea: its swagger, under
``/api/v1``):

- statuses: ``POST /repos/{o}/{r}/statuses/{sha}``, GitLab ``POST
  /projects/{id}/statuses/{sha}``
- pull requests: ``GET|POST /repos/{o}/{r}/pulls``, GitLab ``GET|POST
  /projects/{id}/merge_requests``
- comments: ``GET|POST /repos/{o}/{r}/issues/{n}/comments``, ``PATCH
  /repos/{o}/{r}/issues/comments/{id}``, GitLab ``GET|POST
  /projects/{id}/merge_requests/{iid}/notes``, ``PUT .../notes/{id}``
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

PREFIX = {"github": "/api/v3", "gitlab": "/api/v4", "gitea": "/api/v1"}
STATES = {
    "github": {"pending", "success", "failure", "error"},
    "gitea": {"pending", "success", "failure", "error", "warning"},
    "gitlab": {"pending", "running", "success", "failed", "canceled", "skipped"},
}


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class GitHostRecorder:
    """One fake host of ``kind`` holding every repository it is asked about."""

    def __init__(self, kind: str, *, token: str | None = None) -> None:
        if kind not in PREFIX:
            raise ValueError(f"unknown kind {kind!r}")
        self.kind = kind
        self.token = token or secrets.token_hex(16)
        self.statuses: list[dict[str, Any]] = []
        self.pull_requests: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.fail_with: int | None = None
        """When set, every call is answered with this HTTP status (an outage)."""
        self._lock = threading.Lock()
        self._ids = 100
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> GitHostRecorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    code, answer = recorder._handle(self.command, self.path, self.headers, raw)
                except _Refused as refused:
                    code, answer = refused.code, {"message": str(refused)}
                data = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- requests --------------------------------------------------------------------------

    def _authorized(self, headers: Any) -> bool:
        if self.kind == "gitlab":
            return bool(headers.get("PRIVATE-TOKEN") == self.token)
        allowed = {f"Bearer {self.token}", f"token {self.token}"}
        return headers.get("Authorization") in allowed

    def _handle(self, method: str, target: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        with self._lock:
            self.requests.append((method, parts.path))
        if self.fail_with is not None:
            raise _Refused(self.fail_with, "unavailable")
        if not self._authorized(headers):
            raise _Refused(401, "Bad credentials")
        prefix = PREFIX[self.kind]
        if not parts.path.startswith(prefix + "/"):
            raise _Refused(404, "Not Found")
        segments = [unquote(s) for s in parts.path[len(prefix) + 1 :].split("/")]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = json.loads(raw) if raw else {}
        if not isinstance(body, dict):
            raise _Refused(400, "Problems parsing JSON")
        with self._lock:
            if self.kind == "gitlab":
                return self._gitlab(method, segments, query, body)
            return self._github_or_gitea(method, segments, query, body)

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _github_or_gitea(
        self, method: str, seg: list[str], query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        if len(seg) < 4 or seg[0] != "repos":
            raise _Refused(404, "Not Found")
        project, rest = f"{seg[1]}/{seg[2]}", seg[3:]
        web = f"{self.url}/{project}"
        if method == "POST" and rest[0] == "statuses" and len(rest) == 2:
            return 201, self._status(project, rest[1], body, "context")
        if rest == ["pulls"] and method == "GET":
            found = [
                pr
                for pr in self.pull_requests
                if pr["project"] == project
                and pr["state"] == "open"
                and ("base" not in query or pr["base"]["ref"] == query["base"])
                and ("head" not in query or pr["head"]["ref"] == query["head"].split(":")[-1])
            ]
            return 200, self._page(found, query)
        if rest == ["pulls"] and method == "POST":
            for key in ("head", "base", "title"):
                if not body.get(key):
                    raise _Refused(422, f"Validation Failed: {key} is missing")
            if any(
                pr["project"] == project
                and pr["state"] == "open"
                and (pr["head"]["ref"], pr["base"]["ref"]) == (body["head"], body["base"])
                for pr in self.pull_requests
            ):
                raise _Refused(422, "A pull request already exists")
            number = len([p for p in self.pull_requests if p["project"] == project]) + 1
            pr = {
                "project": project,
                "number": number,
                "state": "open",
                "title": body["title"],
                "body": body.get("body", ""),
                "head": {"ref": body["head"]},
                "base": {"ref": body["base"]},
                "html_url": f"{web}/pull/{number}",
            }
            self.pull_requests.append(pr)
            return 201, pr
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "comments":
            number = int(rest[1])
            if method == "GET":
                mine = [
                    c for c in self.comments if (c["project"], c["number"]) == (project, number)
                ]
                return 200, self._page(mine, query)
            if method == "POST":
                return 201, self._comment(project, number, body, f"{web}/pull/{number}")
        if len(rest) == 3 and rest[:2] == ["issues", "comments"] and method == "PATCH":
            return 200, self._edit(project, int(rest[2]), body)
        raise _Refused(404, "Not Found")

    def _gitlab(
        self, method: str, seg: list[str], query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        if len(seg) < 3 or seg[0] != "projects":
            raise _Refused(404, "404 Project Not Found")
        project, rest = seg[1], seg[2:]
        web = f"{self.url}/{project}"
        if method == "POST" and rest[0] == "statuses" and len(rest) == 2:
            return 201, self._status(project, rest[1], body, "name")
        if rest == ["merge_requests"] and method == "GET":
            found = [
                mr
                for mr in self.pull_requests
                if mr["project"] == project
                and mr["state"] == query.get("state", mr["state"])
                and mr["source_branch"] == query.get("source_branch", mr["source_branch"])
                and mr["target_branch"] == query.get("target_branch", mr["target_branch"])
            ]
            return 200, self._page(found, query)
        if rest == ["merge_requests"] and method == "POST":
            for key in ("source_branch", "target_branch", "title"):
                if not body.get(key):
                    raise _Refused(400, f"{key} is missing")
            iid = len([m for m in self.pull_requests if m["project"] == project]) + 1
            mr = {
                "project": project,
                "iid": iid,
                "number": iid,
                "state": "opened",
                "title": body["title"],
                "body": body.get("description", ""),
                "source_branch": body["source_branch"],
                "target_branch": body["target_branch"],
                "head": {"ref": body["source_branch"]},
                "base": {"ref": body["target_branch"]},
                "web_url": f"{web}/-/merge_requests/{iid}",
            }
            self.pull_requests.append(mr)
            return 201, mr
        if len(rest) >= 3 and rest[0] == "merge_requests" and rest[2] == "notes":
            iid = int(rest[1])
            if len(rest) == 3 and method == "GET":
                mine = [c for c in self.comments if (c["project"], c["number"]) == (project, iid)]
                return 200, self._page(mine, query)
            if len(rest) == 3 and method == "POST":
                return 201, self._comment(project, iid, body, f"{web}/-/merge_requests/{iid}")
            if len(rest) == 4 and method == "PUT":
                return 200, self._edit(project, int(rest[3]), body)
        raise _Refused(404, "404 Not Found")

    # -- records ---------------------------------------------------------------------------

    def _status(self, project: str, sha: str, body: dict[str, Any], name: str) -> dict[str, Any]:
        state = body.get("state")
        if state not in STATES[self.kind]:
            raise _Refused(422, f"state {state!r} is not one of {sorted(STATES[self.kind])}")
        if self.kind == "github" and len(str(body.get("description", ""))) > 140:
            raise _Refused(422, "description is too long (maximum is 140 characters)")
        record = {
            "project": project,
            "sha": sha,
            "state": state,
            "context": body.get(name, "default"),
            "description": body.get("description", ""),
            "target_url": body.get("target_url"),
        }
        self.statuses.append(record)
        return {"id": self._next_id(), **record}

    def _comment(
        self, project: str, number: int, body: dict[str, Any], page: str
    ) -> dict[str, Any]:
        if not body.get("body"):
            raise _Refused(422, "body is missing")
        cid = self._next_id()
        comment = {
            "project": project,
            "number": number,
            "id": cid,
            "body": body["body"],
            "edited": 0,
            "html_url": f"{page}#issuecomment-{cid}",
        }
        self.comments.append(comment)
        return comment

    def _edit(self, project: str, cid: int, body: dict[str, Any]) -> dict[str, Any]:
        for comment in self.comments:
            if comment["project"] == project and comment["id"] == cid:
                comment["body"] = body.get("body", comment["body"])
                comment["edited"] += 1
                return comment
        raise _Refused(404, "Not Found")

    def _page(self, items: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
        size = int(query.get("per_page") or query.get("limit") or 30)
        page = int(query.get("page") or 1)
        return items[(page - 1) * size : page * size]
