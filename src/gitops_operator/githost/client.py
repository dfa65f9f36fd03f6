"""A small client of the three Git hosts' REST APIs: commit statuses, pull requests and
their comments. Synchronous (``urllib``): call it off the event loop.

Each host spells the same three things differently; ``_Dialect`` holds the spelling, the
client the logic (find before create, so a retry never duplicates a pull request or a
comment).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

from gitops_operator.errors import GitHostError
from gitops_operator.githost.repo import CommitState, HostRepo, PullRequest

MAX_RESPONSE = 4 * 1024 * 1024
"""Bytes read from one answer at most: a host cannot make us hold more."""
MAX_PAGES = 10
"""Pages of 100 comments or pull requests searched for an earlier one."""
DESCRIPTION_LIMIT = 140
"""GitHub refuses a status description longer than this; the others are cut the same."""

_GITLAB_STATES = {
    "pending": "pending",
    "success": "success",
    "failure": "failed",
    "error": "failed",
}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: following it would send the token to wherever it points."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GitHost:
    """The API of one repository (``HostRepo``) on GitHub, GitLab or Gitea/Forgejo."""

    def __init__(self, repo: HostRepo, *, timeout: float = 10.0) -> None:
        self.repo = repo
        self.timeout = timeout

    # -- the three operations -------------------------------------------------------------

    def set_status(
        self,
        sha: str,
        state: CommitState,
        *,
        context: str,
        description: str,
        target_url: str | None = None,
    ) -> None:
        """Mark commit ``sha`` with ``state`` under ``context`` (one line per context in the
        host's checks list; a later call replaces it)."""
        text = _clip(description, DESCRIPTION_LIMIT)
        if self.repo.kind == "gitlab":
            body: dict[str, Any] = {
                "state": _GITLAB_STATES[state],
                "name": context,
                "description": text,
            }
        else:
            body = {"state": state, "context": context, "description": text}
        if target_url:
            body["target_url"] = target_url
        self._call("POST", f"{self._project_path()}/statuses/{quote(sha, safe='')}", body)

    def open_pull_request(self, *, head: str, base: str, title: str, body: str) -> PullRequest:
        """Open a pull request from branch ``head`` into ``base``; an open one between the
        same branches is returned instead of a second."""
        existing = self._find_pull_request(head, base)
        if existing is not None:
            return existing
        if self.repo.kind == "gitlab":
            made = self._call(
                "POST",
                f"{self._project_path()}/merge_requests",
                {"source_branch": head, "target_branch": base, "title": title, "description": body},
            )
            return PullRequest(number=int(made["iid"]), url=str(made.get("web_url", "")))
        made = self._call(
            "POST",
            f"{self._project_path()}/pulls",
            {"head": head, "base": base, "title": title, "body": body},
        )
        return PullRequest(number=int(made["number"]), url=str(made.get("html_url", "")))

    def upsert_comment(self, number: int, *, marker: str, body: str) -> str:
        """Comment on pull request ``number``; the earlier comment holding ``marker`` is
        edited instead of adding another. Returns the comment's URL."""
        if marker not in body:
            body = f"{body}\n\n{marker}"
        found = self._find_comment(number, marker)
        if self.repo.kind == "gitlab":
            notes = f"{self._project_path()}/merge_requests/{number}/notes"
            if found is not None:
                note = self._call("PUT", f"{notes}/{found}", {"body": body})
            else:
                note = self._call("POST", notes, {"body": body})
            return f"{self.repo.web_url}/-/merge_requests/{number}#note_{note.get('id', found)}"
        comments = f"{self._project_path()}/issues"
        if found is not None:
            made = self._call("PATCH", f"{comments}/comments/{found}", {"body": body})
        else:
            made = self._call("POST", f"{comments}/{number}/comments", {"body": body})
        return str(made.get("html_url", ""))

    # -- finding what is already there ----------------------------------------------------

    def _find_pull_request(self, head: str, base: str) -> PullRequest | None:
        if self.repo.kind == "gitlab":
            query = {"state": "opened", "source_branch": head, "target_branch": base}
            for item in self._pages(f"{self._project_path()}/merge_requests", query):
                return PullRequest(number=int(item["iid"]), url=str(item.get("web_url", "")))
            return None
        query = {"state": "open"}
        if self.repo.kind == "github":
            query |= {"head": f"{self.repo.project.split('/')[0]}:{head}", "base": base}
        for item in self._pages(f"{self._project_path()}/pulls", query):
            if _branch(item, "head") == head and _branch(item, "base") == base:
                return PullRequest(number=int(item["number"]), url=str(item.get("html_url", "")))
        return None

    def _find_comment(self, number: int, marker: str) -> int | None:
        if self.repo.kind == "gitlab":
            path = f"{self._project_path()}/merge_requests/{number}/notes"
        else:
            path = f"{self._project_path()}/issues/{number}/comments"
        for item in self._pages(path, {}):
            if marker in str(item.get("body", "")):
                return int(item["id"])
        return None

    def _pages(self, path: str, query: dict[str, str]) -> list[dict[str, Any]]:
        size = {"limit": "50"} if self.repo.kind == "gitea" else {"per_page": "100"}
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            items = self._call("GET", f"{path}?{urlencode(query | size | {'page': str(page)})}")
            if not isinstance(items, list):
                raise GitHostError(f"{self.repo.kind} answered {path} with no list")
            found.extend(item for item in items if isinstance(item, dict))
            if len(items) < int(next(iter(size.values()))):
                break
        return found

    # -- HTTP -----------------------------------------------------------------------------

    def _project_path(self) -> str:
        if self.repo.kind == "gitlab":
            return f"/projects/{quote(self.repo.project, safe='')}"
        return f"/repos/{self.repo.project}"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "gitops-operator"}
        if self.repo.kind == "github":
            headers["Authorization"] = f"Bearer {self.repo.token}"
            headers["Accept"] = "application/vnd.github+json"
            headers["X-GitHub-Api-Version"] = "2022-11-28"
        elif self.repo.kind == "gitlab":
            headers["PRIVATE-TOKEN"] = self.repo.token
        else:
            headers["Authorization"] = f"token {self.repo.token}"
        return headers

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.repo.api_url}{path}"
        data = None if body is None else json.dumps(body).encode()
        headers = self._headers()
        if data is not None:
            headers["Content-Type"] = "application/json"
        # host_repo admits only http(s) addresses.
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        where = f"{self.repo.kind} {method} {path.split('?')[0]}"
        try:
            with _OPENER.open(request, timeout=self.timeout) as answer:
                raw = answer.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as err:
            detail = self._scrub(err.read(2048).decode("utf-8", "replace"))
            raise GitHostError(
                f"{where}: HTTP {err.code} {_clip(detail.strip(), 300)}", status=err.code
            ) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise GitHostError(f"{where}: {self._scrub(str(reason))}") from None
        if len(raw) > MAX_RESPONSE:
            raise GitHostError(f"{where}: the answer is larger than {MAX_RESPONSE} bytes")
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise GitHostError(f"{where}: the answer is not JSON") from None

    def _scrub(self, text: str) -> str:
        return text.replace(self.repo.token, "***") if self.repo.token else text


def _branch(item: dict[str, Any], side: str) -> str:
    ref = item.get(side)
    return str(ref.get("ref", "")) if isinstance(ref, dict) else ""
