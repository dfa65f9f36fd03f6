"""The pull request of a pushed revert branch, opened through the Provider that
``spec.rollback.gitRevert.providerRef`` names (``gitops_operator.githost``).

The Provider (group gitops-operator.dev, ``spec.type`` github, gitlab or gitea,
``spec.address`` the repository's web URL, ``spec.secretRef`` a Secret with key
``token``) and its Secret are read from the Application's namespace with the
Application's own rights. What is wrong with them never stops the push: the branch is
pushed, and why its pull request was not opened is reported."""

from __future__ import annotations

import base64
import binascii

from ..api import API_VERSION, GROUP
from ..errors import GitHostError, GitOpsError
from ..githost import HOST_KINDS, GitHost, HostRepo, host_repo
from ..objects import ObjectRef
from ..source.revert import Pushed, RevertPlan
from .revert_plan import OpenPullRequest, PullRequestResult
from .run import ApplicationRun

PROVIDER_KIND = "Provider"
TOKEN_KEY = "token"  # noqa: S105 (a key name)
HOST_TIMEOUT = 10.0


def pull_request_opener(run: ApplicationRun, provider: str, plan: RevertPlan) -> OpenPullRequest:
    """What opens the pull request of ``plan``'s branch into its tracked branch."""
    try:
        repo = host_of(run, provider)
    except GitOpsError as exc:
        failure = PullRequestResult(
            error=GitOpsError(exc.message, reason=exc.reason or "PullRequestFailed")
        )
        return lambda _: failure
    subject, _, body = plan.message.partition("\n\n")

    def open_pull_request(pushed: Pushed) -> PullRequestResult:
        try:
            opened = GitHost(repo, timeout=HOST_TIMEOUT).open_pull_request(
                head=pushed.branch,
                base=plan.base,
                title=subject,
                body=f"{body.strip()}\n\nMerging it brings the branch back to the last good"
                " revision; the Application syncs it like any other commit.",
            )
        except GitHostError as exc:
            return PullRequestResult(error=GitOpsError(exc.message, reason="PullRequestFailed"))
        return PullRequestResult(opened.url)

    return open_pull_request


def host_of(run: ApplicationRun, name: str) -> HostRepo:
    """The repository on its Git host that Provider ``name`` names, with its token."""
    kube = run.home_kube  # the Application's own namespace, on its own cluster
    where = f"Provider {run.namespace}/{name} (spec.rollback.gitRevert.providerRef)"
    provider = kube.get(API_VERSION, ObjectRef(GROUP, PROVIDER_KIND, run.namespace, name))
    if provider is None:
        raise GitOpsError(f"{where} not found", reason="ProviderNotFound")
    spec = provider.get("spec") or {}
    kind = str(spec.get("type") or "")
    if kind not in HOST_KINDS:
        raise GitOpsError(
            f"{where} has type {kind!r}: a pull request needs one of {', '.join(HOST_KINDS)}",
            reason="UnsupportedProvider",
        )
    secret_name = str((spec.get("secretRef") or {}).get("name") or "")
    secret = (
        kube.get("v1", ObjectRef("", "Secret", run.namespace, secret_name)) if secret_name else None
    )
    raw = ((secret or {}).get("data") or {}).get(TOKEN_KEY)
    if not raw:
        raise GitOpsError(
            f"{where}: its Secret {secret_name or '(spec.secretRef)'} with key {TOKEN_KEY}"
            " not found",
            reason="SecretNotFound",
        )
    try:
        token = base64.b64decode(raw).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        raise GitOpsError(
            f"{where}: key {TOKEN_KEY} of its Secret is not base64 text", reason="InvalidSecret"
        ) from None
    try:
        return host_repo(kind, str(spec.get("address") or ""), token)
    except GitHostError as exc:
        raise GitOpsError(f"{where}: {exc.message}", reason="InvalidProvider") from None
