"""Commands that ask the operator for something: ``sync``, ``retry``, ``rollback``,
``suspend`` and ``resume``. Each only patches the Application (an annotation or
``spec.suspend``); the operator does the work, and ``--wait`` watches its status."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..api import (
    REQUESTED_AT_ANNOTATION,
    RETRY_ANNOTATION,
    ROLLBACK_AT_ANNOTATION,
    ROLLBACK_TO_ANNOTATION,
    sha_of,
    status_fields,
)
from ..errors import GitOpsError
from ..objects import KubeObject
from ..reconcilers.rollback import find_revision
from .cluster import Cluster, now_stamp
from .inspect import ready_condition
from .output import OutputFormat, emit, format_fields, short_revision


def sync(args: argparse.Namespace) -> int:
    """Reconcile now: a new ``requestedAt``, echoed in ``status.lastHandledReconcileAt``."""
    cluster = Cluster.connect(args.kubeconfig, args.namespace)
    cluster.application(args.app)
    stamp = now_stamp()
    cluster.annotate(args.app, {REQUESTED_AT_ANNOTATION: stamp})
    return _await(cluster, args, "reconcile", stamp, _handled(stamp))


def retry(args: argparse.Namespace) -> int:
    """Try a quarantined (failed) revision again: ``retryAt``, plus ``requestedAt`` so the
    wait has something the operator always echoes."""
    cluster = Cluster.connect(args.kubeconfig, args.namespace)
    app = cluster.application(args.app)
    if not (app.get("status") or {}).get(status_fields.FAILED_REVISION):
        print(f"note: {_name(app)} has no failed revision; this is a plain sync", file=sys.stderr)
    stamp = now_stamp()
    cluster.annotate(args.app, {RETRY_ANNOTATION: stamp, REQUESTED_AT_ANNOTATION: stamp})
    return _await(cluster, args, "retry", stamp, _handled(stamp))


def rollback(args: argparse.Namespace) -> int:
    """Roll back to a revision of ``status.history`` (or ``lastGoodRevision``): the
    target in ``rollbackTo`` and a new ``rollbackAt``, echoed in
    ``status.lastHandledRollbackAt`` once the operator has acted on it."""
    cluster = Cluster.connect(args.kubeconfig, args.namespace)
    app = cluster.application(args.app)
    status = app.get("status") or {}
    target = find_revision(status, args.to)
    if target is None:
        known = sorted(
            {
                short_revision(str(h.get("revision", "")))
                for h in status.get(status_fields.HISTORY) or []
            }
        )
        raise GitOpsError(
            f"{args.to!r} is not a revision in the history of {_name(app)}"
            f" (known: {', '.join(known) or 'none'}; see `gitops-operator history {args.app}`)",
            reason="UnknownRevision",
        )
    stamp = now_stamp()
    cluster.annotate(args.app, {ROLLBACK_TO_ANNOTATION: args.to, ROLLBACK_AT_ANNOTATION: stamp})
    sha = sha_of(target)

    def done(live: KubeObject) -> bool:
        return bool((live.get("status") or {}).get(status_fields.LAST_HANDLED_ROLLBACK_AT) == stamp)

    code = _await(cluster, args, f"rollback to {target}", stamp, done)
    if code == 0 and args.wait:
        applied = str(
            (cluster.application(args.app).get("status") or {}).get(
                status_fields.LAST_APPLIED_REVISION
            )
        )
        if not applied.endswith(sha):
            return 1
    return code


def suspend(args: argparse.Namespace) -> int:
    return _set_suspend(args, True)


def resume(args: argparse.Namespace) -> int:
    return _set_suspend(args, False)


def _set_suspend(args: argparse.Namespace, suspended: bool) -> int:
    cluster = Cluster.connect(args.kubeconfig, args.namespace)
    app = cluster.patch_application(args.app, {"spec": {"suspend": suspended}})
    data = {"namespace": cluster.namespace, "name": args.app, "suspended": suspended}
    word = "suspended" if suspended else "resumed"
    emit(data, OutputFormat(args.output), lambda: f"Application {_name(app)} {word}\n")
    return 0


# -- waiting -------------------------------------------------------------------------------


def _handled(stamp: str) -> Callable[[KubeObject], bool]:
    def done(app: KubeObject) -> bool:
        return bool((app.get("status") or {}).get(status_fields.LAST_HANDLED_RECONCILE_AT) == stamp)

    return done


def _await(
    cluster: Cluster,
    args: argparse.Namespace,
    what: str,
    requested: str,
    done: Callable[[KubeObject], bool],
) -> int:
    """Without ``--wait``: say what was asked. With it: poll until ``done``, print the
    outcome; 1 when the Application is not Ready afterwards."""
    output = OutputFormat(args.output)
    where = f"{cluster.namespace}/{args.app}"
    if not args.wait:
        data = {"namespace": cluster.namespace, "name": args.app, "requested": requested}
        emit(data, output, lambda: f"requested {what} of Application {where} ({requested})\n")
        return 0
    app = cluster.wait_for(
        args.app, done, timeout=args.timeout, what=f"the operator to handle the {what} of {where}"
    )
    result = _outcome(app, requested)
    emit(result, output, lambda: _outcome_text(what, where, result))
    return 1 if result["ready"].get("status") == "False" else 0


def _outcome(app: KubeObject, requested: str) -> dict[str, Any]:
    status = app.get("status") or {}
    ready = ready_condition(status)
    return {
        "namespace": app["metadata"]["namespace"],
        "name": app["metadata"]["name"],
        "requested": requested,
        status_fields.LAST_HANDLED_RECONCILE_AT: status.get(
            status_fields.LAST_HANDLED_RECONCILE_AT, ""
        ),
        "revision": status.get(status_fields.LAST_APPLIED_REVISION, ""),
        status_fields.FAILED_REVISION: status.get(status_fields.FAILED_REVISION) or "",
        status_fields.SYNC: status.get(status_fields.SYNC, "Unknown"),
        status_fields.HEALTH: status.get(status_fields.HEALTH, "Unknown"),
        "ready": {k: ready.get(k, "") for k in ("status", "reason", "message")},
    }


def _outcome_text(what: str, where: str, r: dict[str, Any]) -> str:
    ready = r["ready"]
    fields = [
        ("Requested", r["requested"]),
        ("Handled at", r[status_fields.LAST_HANDLED_RECONCILE_AT] or "not yet"),
        ("Revision", r["revision"] or "none"),
        ("Sync", r[status_fields.SYNC]),
        ("Health", r[status_fields.HEALTH]),
        ("Ready", f"{ready['status'] or 'Unknown'} ({ready['reason']}): {ready['message']}"),
    ]
    if r[status_fields.FAILED_REVISION]:
        fields.insert(3, ("Failed revision", f"{r['failedRevision']} (quarantined)"))
    return f"{what} of Application {where} handled\n" + format_fields(fields)


def _name(app: KubeObject) -> str:
    return f"{app['metadata']['namespace']}/{app['metadata']['name']}"
