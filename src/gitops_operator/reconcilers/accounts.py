"""The ServiceAccount an Application acts as, and whether it exists.

An Application acts as ``spec.serviceAccountName``, else the operator's default account,
always in its own namespace; with neither (the default set to empty) it acts with the
operator's own identity. The API server lets the operator impersonate an account that
does not exist (it would only be refused everything), so the account is looked up first
and its absence said plainly.
"""

from __future__ import annotations

from ..errors import ApiError, ServiceAccountNotFoundError
from ..kube import KubeClient
from ..objects import ObjectRef

ACCOUNT_RETRY = 15.0
"""Seconds between looks for a missing ServiceAccount (an administrator may create it)."""


def service_account_user(namespace: str, account: str) -> str:
    """The user name the API server gives ``account`` of ``namespace``."""
    return f"system:serviceaccount:{namespace}:{account}"


def account_exists(kube: KubeClient, namespace: str, account: str) -> bool | None:
    """Whether the ServiceAccount exists, read with the operator's own identity; None when
    the operator may not read ServiceAccounts (RBAC of one's own, without that rule)."""
    try:
        return kube.get("v1", ObjectRef("", "ServiceAccount", namespace, account)) is not None
    except ApiError as exc:
        if exc.code == 403:
            return None
        raise


def require_account(kube: KubeClient, namespace: str, named: str, default: str) -> None:
    """Raise ``ServiceAccountNotFoundError`` when the account the Application acts as
    (``named``, else ``default``) does not exist in its namespace."""
    account = named or default
    if not account or account_exists(kube, namespace, account) is not False:
        return
    origin = (
        "spec.serviceAccountName"
        if named
        else "the operator's default account for Applications that name none"
        " (GITOPS_DEFAULT_SERVICE_ACCOUNT; chart value operator.defaultServiceAccount)"
    )
    raise ServiceAccountNotFoundError(
        f"ServiceAccount {namespace}/{account} not found: this Application acts as it"
        f" ({origin}) and applies nothing until it exists. Create it and bind it a Role"
        f" for what the Application applies; looked for again every {ACCOUNT_RETRY:.0f}s",
        requeue_after=ACCOUNT_RETRY,
    )
