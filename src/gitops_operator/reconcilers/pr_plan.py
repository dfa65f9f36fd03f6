"""Plan one pull request for one Application: its head rendered with the Application's
settings exactly as a sync renders (same renderer, substitution and limits), then
dry-run against the live cluster as the Application's own identity (impersonation, as
for syncs). Nothing is applied and nothing is pruned; Secret values never leave here.

The head is fetched from the GitRepository's own URL with its own credentials, by the ref
the repository keeps the pull request under (``refs/pull/N/head``, GitLab
``refs/merge-requests/N/head``), so the SHA planned is one the operator resolved itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import inventory
from ..api import (
    parse_application_spec,
    parse_repository_spec,
    sha_of,
    status_fields,
)
from ..api.destination import parse_destination
from ..diff_report import MAX_MARKDOWN, Revision, RevisionDiff, as_markdown
from ..diff_report import render_failure_markdown as failure_markdown
from ..errors import GitOpsError, SourceError, redact
from ..render_diff import count
from ..source import Artifact
from ..substitute import mask_values
from .accounts import require_account
from .application import ApplicationReconciler
from .credentials import load_credentials
from .run import ApplicationRun, Logger

MAX_ERROR_CHARS = 4_000
"""Characters of a render or dry-run error quoted in a comment at most."""


@dataclass(frozen=True, slots=True)
class AppPlan:
    """What one Application's plan says: for the comment, the commit status and status."""

    namespace: str
    name: str
    ok: bool
    summary: str
    """One line for the commit status: the counts, or what failed (Secret values masked)."""
    comment: str
    """The Markdown comment (Secret values masked)."""
    reason: str = ""
    """Why it failed (a condition reason), "" when it planned."""


def fetch_head(
    apps: ApplicationReconciler, namespace: str, repo_spec: dict[str, Any], ref_name: str
) -> Artifact:
    """The tree at the head of ``ref_name`` as the repository's own URL and Secret give it."""
    spec = parse_repository_spec(repo_spec)
    credentials = load_credentials(apps.kube, namespace, spec.secret_name)
    sha = apps.git.resolve_name(spec.url, ref_name, timeout=spec.timeout, credentials=credentials)
    if sha is None:
        raise SourceError(f"{redact(spec.url)} has no {ref_name}", reason="PullRequestHeadNotFound")
    return apps.artifact(namespace, repo_spec, sha)  # from the cache, else fetched by SHA


def plan_application(
    apps: ApplicationReconciler,
    app: dict[str, Any],
    head: Artifact,
    number: int,
    *,
    now: str,
    logger: Logger,
) -> AppPlan:
    """Render ``head`` for ``app`` and dry-run it; a render or dry-run failure is the
    plan's result (``ok`` False), never raised. A transient API error is raised."""
    meta = app["metadata"]
    namespace, name = str(meta["namespace"]), str(meta["name"])
    status = dict(app.get("status") or {})
    base = Revision("live", sha_of(str(status.get(status_fields.LAST_APPLIED_REVISION) or "")))
    report_head = Revision(f"#{number}", head.sha)
    subject = f"Application {namespace}/{name}"
    secrets: frozenset[str] = frozenset()
    try:
        spec = parse_application_spec(app.get("spec") or {}, namespace)
        subject = f"Application {namespace}/{name} ({spec.path})"
        require_account(apps.kube, namespace, spec.service_account, apps.default_service_account)
        destination = parse_destination(app.get("spec") or {})
        manager = apps.manager_for(namespace, spec.service_account, destination)
        run = ApplicationRun(app, spec, status, now, _read_only, logger, manager)
        if destination.remote:  # its own namespace's Secrets and ConfigMaps are read home
            run.home = apps.manager_for(namespace, spec.service_account).kube
        apps.load_post_build(run)
        secrets = run.secret_values
        run.artifact = head
        manifests, hooks = apps.rendered(run, head)
    except GitOpsError as exc:
        return _failed(namespace, name, subject, "does not render", exc, secrets, report_head)
    old = inventory.from_status(status)
    stale = inventory.stale(old, inventory.of_manifests(manifests)) if spec.prune else {}
    try:
        plan = manager.plan_all(manifests, spec.ignore_differences, stale)
    except GitOpsError as exc:
        return _failed(namespace, name, subject, "cannot be planned", exc, secrets, report_head)
    notes = []
    if hooks:
        notes.append(f"{len(hooks)} hook(s) run at sync time: they are not part of this plan")
    if plan.deferred:
        notes.append(
            f"{len(plan.deferred)} added object(s) are not validated: their Namespace or"
            " kind comes from this change"
        )
    report = RevisionDiff(base, report_head, subject, plan.diffs, tuple(notes))
    if plan.refused:
        n = plan.refusals
        refused = "\n".join(line[:MAX_ERROR_CHARS] for line in plan.refused)
        what = f"the pull request's head, {report_head}, cannot be applied: the dry run refused"
        comment = failure_markdown(f"{what} {n} object(s)", subject, refused)
        if plan.diffs:
            comment += "\n" + as_markdown(report, MAX_MARKDOWN - len(comment))
        summary = f"dry run refused {n} object(s): {plan.refused[0]}"
        return AppPlan(
            namespace,
            name,
            False,
            mask_values(summary, secrets),
            mask_values(comment, secrets),
            "DryRunFailed",
        )
    comment = as_markdown(report, MAX_MARKDOWN)
    counts = ", ".join(f"{n} {change.value}" for change, n in count(plan.diffs).items() if n)
    summary = f"plans cleanly: {counts}" if counts else "plans cleanly: no object changes"
    return AppPlan(namespace, name, True, summary, mask_values(comment, secrets))


def _failed(
    namespace: str,
    name: str,
    subject: str,
    what: str,
    exc: GitOpsError,
    secrets: frozenset[str],
    head: Revision,
) -> AppPlan:
    message = mask_values(exc.message, secrets)[:MAX_ERROR_CHARS]
    comment = failure_markdown(f"the pull request's head, {head}, {what}", subject, message)
    return AppPlan(namespace, name, False, f"{what}: {message}", comment, exc.reason)


def _read_only(status: dict[str, Any]) -> None:
    raise GitOpsError("internal error: a pull-request plan tried to write an Application")
