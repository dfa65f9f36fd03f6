"""Which API serves a repository named by its web address (a Provider's spec.address)."""

from __future__ import annotations

import pytest

from gitops_operator.githost import GitHostError, host_repo


@pytest.mark.parametrize(
    ("kind", "address", "api", "project"),
    [
        ("github", "https://github.com/org/app", "https://api.github.com", "org/app"),
        ("github", "https://github.com/org/app.git", "https://api.github.com", "org/app"),
        (
            "github",
            "https://ghe.example:8443/org/app/",
            "https://ghe.example:8443/api/v3",
            "org/app",
        ),
        (
            "gitlab",
            "https://gitlab.example/group/sub/app",
            "https://gitlab.example/api/v4",
            "group/sub/app",
        ),
        ("gitea", "http://127.0.0.1:3000/org/app", "http://127.0.0.1:3000/api/v1", "org/app"),
    ],
)
def test_the_api_and_project_come_from_the_web_address(
    kind: str, address: str, api: str, project: str
) -> None:
    repo = host_repo(kind, address, "t0ken")
    assert (repo.api_url, repo.project) == (api, project)


def test_the_token_is_not_shown() -> None:
    assert "t0ken" not in repr(host_repo("gitea", "http://h/org/app", "t0ken"))


@pytest.mark.parametrize(
    ("kind", "address", "words"),
    [
        ("bitbucket", "https://b.example/org/app", "unknown Git host type"),
        ("github", "ssh://git@github.com/org/app", r"not an http\(s\) URL"),
        ("github", "https://github.com/org", "does not name a repository"),
        ("github", "https://github.com/org/app/extra", "does not name a repository"),
        ("gitea", "https://user:pw@h/org/app", "must not carry credentials"),
    ],
)
def test_an_address_that_names_no_repository_is_refused(
    kind: str, address: str, words: str
) -> None:
    with pytest.raises(GitHostError, match=words):
        host_repo(kind, address, "t")


def test_no_token_is_refused() -> None:
    with pytest.raises(GitHostError, match="no token"):
        host_repo("github", "https://github.com/org/app", "")
