"""Commit statuses on GitHub, GitLab and Gitea/Forgejo: per Application and revision,
pending when the revision starts syncing, success when it turned healthy, failure when
it failed or was rolled back. Through the Git host client (``githost``); blocking."""

from __future__ import annotations

from ..githost import GitHost, GitHostError, host_repo
from .model import NotifyEvent, Provider
from .payloads import commit_sha, commit_state, description, status_context
from .status import Result


def set_commit_status(provider: Provider, address: str, token: str, event: NotifyEvent) -> Result:
    """Set the status the Event calls for on its commit of the repository at ``address``
    (the Provider's, a repository's web URL); an Event that calls for none is a success
    refused."""
    state = commit_state(event)
    if state is None:  # the dispatcher queues none of these
        return Result(False, "InvalidEvent", "the event calls for no commit status")
    try:
        host = GitHost(host_repo(provider.type.value, address, token), timeout=provider.timeout)
        host.set_status(
            commit_sha(event),
            state,
            context=status_context(event),
            description=description(event),
        )
    except GitHostError as exc:
        code = exc.status
        retryable = code is None or code == 429 or code >= 500
        return Result(False, "DeliveryFailed", exc.message, code=code, retryable=retryable)
    return Result(True, "Succeeded", f"commit status {state}")
