"""``spec.rollback.gitRevert`` of an Application: after an automatic rollback, push a
commit that reverts the failed range, so that Git says again what the cluster runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import InvalidSpecError

DEFAULT_BRANCH_PREFIX = "gitops-operator/revert-"
DEFAULT_AUTHOR_NAME = "gitops-operator"
DEFAULT_AUTHOR_EMAIL = "gitops-operator@users.noreply.gitops-operator.dev"
MAX_PREFIX = 100
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_EMAIL = re.compile(r"[^<>\s@]+@[^<>\s@]+")
_NAME = re.compile(r"[^<>\n]{1,100}")


class RevertTarget(StrEnum):
    BRANCH = "Branch"
    """A new branch named after the failed revision (the default): Git is told by a
    pull request, a person merges it."""
    TRACKED_BRANCH = "TrackedBranch"
    """The tracked branch itself, as a fast-forward (never forced)."""


@dataclass(frozen=True, slots=True)
class GitRevertSpec:
    secret_name: str
    """Write credentials for the repository (keys as a GitRepository's secretRef)."""
    target: RevertTarget = RevertTarget.BRANCH
    branch_prefix: str = DEFAULT_BRANCH_PREFIX
    author_name: str = DEFAULT_AUTHOR_NAME
    author_email: str = DEFAULT_AUTHOR_EMAIL
    provider_name: str = ""
    """A ``Provider`` of the Application's namespace: a pull request is opened through it
    from the revert branch into the tracked branch."""


def parse_git_revert(value: Any) -> GitRevertSpec | None:
    """``spec.rollback.gitRevert``, or None when it is absent (the default: no push)."""
    if not value:
        return None
    if not isinstance(value, dict):
        raise InvalidSpecError("spec.rollback.gitRevert must be an object")
    where = "spec.rollback.gitRevert"
    secret = str((value.get("secretRef") or {}).get("name") or "")
    if not secret:
        raise InvalidSpecError(
            f"{where}.secretRef.name is required: a revert is pushed only with write"
            " credentials from a Secret named for it"
        )
    try:
        target = RevertTarget(value.get("target") or RevertTarget.BRANCH)
    except ValueError:
        raise InvalidSpecError(
            f"{where}.target: {value.get('target')!r} is not one of Branch, TrackedBranch"
        ) from None
    prefix = str(value.get("branchPrefix") or DEFAULT_BRANCH_PREFIX)
    check_branch_prefix(prefix, where=f"{where}.branchPrefix")
    author = value.get("author") or {}
    name = str(author.get("name") or DEFAULT_AUTHOR_NAME)
    email = str(author.get("email") or DEFAULT_AUTHOR_EMAIL)
    if not _NAME.fullmatch(name) or not name.strip():
        raise InvalidSpecError(f"{where}.author.name: {name!r} is not a name (no <, > or newline)")
    if not _EMAIL.fullmatch(email):
        raise InvalidSpecError(f"{where}.author.email: {email!r} is not an email address")
    provider = str((value.get("providerRef") or {}).get("name") or "")
    if provider and target is RevertTarget.TRACKED_BRANCH:
        raise InvalidSpecError(
            f"{where}.providerRef opens a pull request from the revert branch: it needs"
            " target Branch, not TrackedBranch"
        )
    return GitRevertSpec(secret, target, prefix, name.strip(), email, provider)


def check_branch_prefix(prefix: str, *, where: str) -> None:
    """A prefix that makes a valid branch name with a SHA after it (``git check-ref-format``'s
    rules, narrowed to a safe alphabet)."""
    bad = (
        len(prefix) > MAX_PREFIX
        or not _PREFIX.fullmatch(prefix)
        or ".." in prefix
        or "//" in prefix
        or "/." in prefix
        or ".lock/" in prefix
        or prefix.startswith("refs/")
    )
    if bad:
        raise InvalidSpecError(
            f"{where}: {prefix!r} does not make a branch name (letters, digits, '.', '_',"
            f" '-', '/'; no '..' or '//'; at most {MAX_PREFIX} characters)"
        )
