"""Git hosts' REST APIs (GitHub, GitLab, Gitea/Forgejo): commit statuses, pull requests
and their comments, for notifications, reverts and pull-request plans."""

from gitops_operator.errors import GitHostError
from gitops_operator.githost.client import GitHost
from gitops_operator.githost.repo import (
    HOST_KINDS,
    CommitState,
    HostKind,
    HostRepo,
    PullRequest,
    host_repo,
)

__all__ = [
    "HOST_KINDS",
    "CommitState",
    "GitHost",
    "GitHostError",
    "HostKind",
    "HostRepo",
    "PullRequest",
    "host_repo",
]
