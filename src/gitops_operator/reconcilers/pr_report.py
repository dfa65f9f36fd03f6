"""One pull-request plan of one GitRepository (``spec.pullRequests``): fetch the head,
plan it for each Application that uses the repository (``pr_plan``), post one comment per
Application (edited in place on later pushes) and a commit status on the head through
the Provider the repository names, and record the result in the repository's status.

Bounded: at most ``MAX_APPLICATIONS`` Applications per plan (the rest are named as not
planned), comments cut at GitHub's size limit, and a deadline after which the remaining
Applications are not planned. The status records only what the operator established:
the number of the verified delivery, the SHA it fetched, its own result.
"""

from __future__ import annotations

import base64
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from ..api import (
    API_VERSION,
    APPLICATION_KIND,
    GROUP,
    REPOSITORY_KIND,
    parse_application_spec,
    status_fields,
)
from ..api.pull_requests import (
    PROVIDER_KIND,
    PROVIDER_TOKEN_KEY,
    parse_host_provider,
    parse_pull_requests,
)
from ..errors import GitOpsError, InvalidSpecError, NotFoundError
from ..githost import CommitState, GitHost, GitHostError, host_repo
from ..objects import ObjectRef
from ..source import Artifact
from .application import ApplicationReconciler
from .outcome import Event
from .pr_plan import AppPlan, fetch_head, plan_application
from .run import Logger

MAX_APPLICATIONS = 10
"""Applications planned per pull request at most; the others are listed as not planned."""
HOST_TIMEOUT = 10.0
"""Seconds per call to the Git host's API."""
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class PullRequestRun:
    """What to plan: the repository, the pull request's number and the ref of its head."""

    repository: Key
    number: int
    head_ref: str
    applications: tuple[Key, ...]
    """The Applications whose sourceRef names the repository, as the watch saw them."""


def marker(namespace: str, name: str) -> str:
    """The hidden line that finds an Application's earlier comment on a pull request."""
    return f"<!-- gitops-operator:plan:{namespace}/{name} -->"


def context(namespace: str, name: str) -> str:
    """The commit status's context: one line per Application in the host's checks."""
    return f"gitops-operator/plan/{namespace}/{name}"


def plan_pull_request(
    apps: ApplicationReconciler, job: PullRequestRun, *, now: str, deadline: float, logger: Logger
) -> Event:
    """Plan, post and record (status and an Event on the repository); the Event. Raises
    nothing a tenant's input can cause: every failure is the plan's result."""
    event, repository = _plan(apps, job, now=now, deadline=deadline, logger=logger)
    if repository is not None:
        try:
            apps.kube.create(_event_object(repository, event, now))
        except GitOpsError as exc:
            logger.warning("cannot post the %s Event: %s", event.reason, exc.message)
    return event


def _plan(
    apps: ApplicationReconciler, job: PullRequestRun, *, now: str, deadline: float, logger: Logger
) -> tuple[Event, dict[str, Any] | None]:
    namespace, name = job.repository
    ref = ObjectRef(GROUP, REPOSITORY_KIND, namespace, name)
    record: dict[str, Any] = {"number": job.number, "sha": None, "time": now}
    repository: dict[str, Any] | None = None
    try:
        repository = apps.kube.get(API_VERSION, ref)
        settings = parse_pull_requests(dict((repository or {}).get("spec") or {}))
        if repository is None or settings is None:
            off = f"#{job.number}: pullRequests is not enabled"
            return Event("PullRequestPlanSkipped", off), None
        host = _host(apps, namespace, settings.provider)
        head = fetch_head(apps, namespace, dict(repository.get("spec") or {}), job.head_ref)
        record["sha"] = head.sha
        plans, skipped = _plan_all(apps, host, job, head, now=now, deadline=deadline, logger=logger)
        posted = _post(host, job.number, head.sha, plans, logger)
    except GitOpsError as exc:
        message = f"pull request #{job.number} not planned: {exc.message}"
        record |= {"result": "Error", "message": message[:1000], "applications": 0}
        _write(apps, ref, record)
        return Event(exc.reason, message, warning=True), repository
    failed = [p for p in plans if not p.ok]
    parts = [f"{p.namespace}/{p.name}: {p.reason}" for p in failed]
    parts += [f"{a[0]}/{a[1]}: not planned ({why})" for a, why in skipped]
    result = "Failed" if failed or skipped else "Planned"
    message = f"pull request #{job.number} at {head.sha[:12]}: {len(plans)} Application(s) planned"
    if parts:
        message += f"; {'; '.join(parts)}"
    if posted:
        message += f"; not posted: {posted}"
    record |= {"result": result, "message": message[:1000], "applications": len(plans)}
    _write(apps, ref, record)
    if result == "Planned" and not posted:
        return Event("PullRequestPlanned", message), repository
    return Event("PullRequestPlanFailed", message, warning=True), repository


def _host(apps: ApplicationReconciler, namespace: str, provider: str) -> GitHost:
    """The Git host client of the repository's Provider (same namespace), with its token."""
    where = f"Provider {namespace}/{provider}"
    ref = ObjectRef(GROUP, PROVIDER_KIND, namespace, provider)
    try:
        obj = apps.kube.get(API_VERSION, ref)
    except NotFoundError:  # the kind is unknown: its CRD may be newer than our discovery
        apps.kube.refresh_discovery()
        obj = apps.kube.get(API_VERSION, ref)
    if obj is None:
        raise InvalidSpecError(f"{where} not found", reason="ProviderNotFound")
    spec = parse_host_provider(obj, where)
    secret = apps.kube.get("v1", ObjectRef("", "Secret", namespace, spec.secret_name)) or {}
    raw = (secret.get("data") or {}).get(PROVIDER_TOKEN_KEY)
    if not raw:
        raise InvalidSpecError(
            f"{where}: Secret {namespace}/{spec.secret_name} has no key {PROVIDER_TOKEN_KEY}",
            reason="ProviderSecretNotFound",
        )
    token = base64.b64decode(raw).decode("utf-8", "replace").strip()
    try:
        return GitHost(host_repo(spec.type, spec.address, token), timeout=HOST_TIMEOUT)
    except (GitHostError, ValueError) as exc:
        raise InvalidSpecError(f"{where}: {exc}", reason="ProviderNotAGitHost") from exc


def _plan_all(
    apps: ApplicationReconciler,
    host: GitHost,
    job: PullRequestRun,
    head: Artifact,
    *,
    now: str,
    deadline: float,
    logger: Logger,
) -> tuple[list[AppPlan], list[tuple[Key, str]]]:
    """Each Application's plan, in name order, until the cap or the deadline (its commit
    status ``pending`` meanwhile); the ones left out, and why."""
    plans: list[AppPlan] = []
    skipped: list[tuple[Key, str]] = []
    for key in sorted(job.applications):
        if len(plans) >= MAX_APPLICATIONS:
            skipped.append((key, f"more than {MAX_APPLICATIONS} Applications"))
            continue
        if time.monotonic() > deadline:
            skipped.append((key, "the plan's time ran out"))
            continue
        app = apps.kube.get(API_VERSION, ObjectRef(GROUP, APPLICATION_KIND, *key))
        if app is None or not _uses(apps, app, job.repository):
            continue  # gone, or moved to another source since the watch saw it
        try:
            host.set_status(
                head.sha, "pending", context=context(*key), description="planning: render, dry run"
            )
        except GitHostError as exc:
            logger.warning("cannot mark %s/%s pending: %s", *key, exc)
        plans.append(plan_application(apps, app, head, job.number, now=now, logger=logger))
    return plans, skipped


def _uses(apps: ApplicationReconciler, app: dict[str, Any], repository: Key) -> bool:
    """Does ``app`` read ``repository``, and may it (the same rule as its syncs)?"""
    try:
        spec = parse_application_spec(app.get("spec") or {}, app["metadata"]["namespace"])
    except GitOpsError:
        return False
    source = (spec.source.namespace, spec.source.name)
    if apps.no_cross_namespace_refs and spec.source.namespace != app["metadata"]["namespace"]:
        return False
    return source == repository


def _post(host: GitHost, number: int, sha: str, plans: list[AppPlan], logger: Logger) -> str:
    """Post each plan's comment and status; "" when every call succeeded, else the first
    failure (the token never appears in it)."""
    failure = ""
    for plan in plans:
        state: CommitState = "success" if plan.ok else "failure"
        try:
            url = host.upsert_comment(
                number, marker=marker(plan.namespace, plan.name), body=plan.comment
            )
            host.set_status(
                sha,
                state,
                context=context(plan.namespace, plan.name),
                description=plan.summary,
                target_url=url or None,
            )
        except GitHostError as exc:
            logger.warning("posting the plan of %s/%s failed: %s", plan.namespace, plan.name, exc)
            failure = failure or str(exc)
    return failure


def _write(apps: ApplicationReconciler, ref: ObjectRef, record: dict[str, Any]) -> None:
    with contextlib.suppress(GitOpsError):  # the repository went away: nothing to record on
        apps.kube.patch_status(API_VERSION, ref, {status_fields.LAST_PULL_REQUEST_PLAN: record})


def _event_object(repository: dict[str, Any], event: Event, now: str) -> dict[str, Any]:
    """A core/v1 Event about ``repository``, as the operator's other Events are posted."""
    meta = repository["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "gitops-operator-", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": REPOSITORY_KIND,
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
        },
        "reason": event.reason,
        "message": event.message[:1024],
        "type": "Warning" if event.warning else "Normal",
        "source": {"component": "gitops-operator"},
        "reportingComponent": "gitops-operator",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
