"""Read-only commands: ``status``, ``history`` and ``diagram``."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .. import inventory
from ..api import parse_health_check_exprs, status_fields
from ..diagram import DiagramObject, render_svg
from ..errors import InvalidSpecError
from ..health import NO_RULES, HealthRules, application_rules, operator_health_checks
from ..manager import ResourceManager
from ..objects import KubeObject
from ..reconcilers.decisions import unaffected_revision
from .cluster import Cluster
from .output import (
    OutputFormat,
    changes_text,
    emit,
    format_fields,
    format_table,
    short_revision,
)


def status(args: argparse.Namespace) -> int:
    """A table of Applications, or the details of one."""
    cluster = Cluster.connect(args.kubeconfig, args.namespace)
    output = OutputFormat(args.output)
    if args.app:
        app = cluster.application(args.app)
        details = application_details(app, cluster.dependencies_of(app))
        emit(details, output, lambda: details_table(details))
        return 0
    apps = cluster.applications(all_namespaces=args.all_namespaces)
    if not apps and output is OutputFormat.TABLE:
        where = "any namespace" if args.all_namespaces else f"namespace {cluster.namespace}"
        print(f"No Applications found in {where}.", file=sys.stderr)
        return 0
    rows = [application_row(app) for app in apps]
    emit(rows, output, lambda: applications_table(rows, with_namespace=args.all_namespaces))
    return 0


def history(args: argparse.Namespace) -> int:
    """``status.history``, newest first."""
    cluster = Cluster.connect(args.kubeconfig, args.namespace)
    entries = list(
        (cluster.application(args.app).get("status") or {}).get(status_fields.HISTORY) or []
    )
    emit(entries, OutputFormat(args.output), lambda: history_table(entries))
    return 0


def diagram(args: argparse.Namespace) -> int:
    """Write the Application's live loop as SVG (``-o -``: to stdout)."""
    cluster = Cluster.connect(args.kubeconfig, args.namespace)
    app = cluster.application(args.app)
    objects = diagram_objects(cluster, app)
    svg = render_svg(app, cluster.repository_of(app), objects)
    target = args.file or f"{args.app}.svg"
    if target == "-":
        sys.stdout.write(svg)
        return 0
    Path(target).write_text(svg, encoding="utf-8")
    print(f"wrote {target} ({len(objects)} objects)")
    return 0


def diagram_objects(cluster: Cluster, app: KubeObject) -> list[DiagramObject]:
    """Every inventoried object with its live health and whether status.drift names it."""
    status = app.get("status") or {}
    drifted = {
        str(d.get("object")) for d in status.get(status_fields.DRIFT) or [] if isinstance(d, dict)
    }
    manager = ResourceManager(cluster.kube, cluster.settings.apply_concurrency)
    manager = manager.with_health_rules(health_rules(cluster, app))
    return [
        DiagramObject(ref, health.status.value, str(ref) in drifted)
        for ref, health in manager.assess(inventory.from_status(status))
    ]


def health_rules(cluster: Cluster, app: KubeObject) -> HealthRules:
    """The Application's health rules in CEL over the operator-wide ones, as the operator
    assesses with them; none when they are invalid (its status then says why)."""
    try:
        own = (app.get("spec") or {}).get("healthCheckExprs")
        return application_rules(
            operator_health_checks(cluster.settings.health_check_exprs),
            parse_health_check_exprs(own, "spec.healthCheckExprs"),
        )
    except InvalidSpecError:
        return NO_RULES


# -- data ----------------------------------------------------------------------------------


def ready_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})


def application_row(app: KubeObject) -> dict[str, Any]:
    status, spec = app.get("status") or {}, app.get("spec") or {}
    ready = ready_condition(status)
    return {
        "namespace": app["metadata"]["namespace"],
        "name": app["metadata"]["name"],
        "source": (spec.get("sourceRef") or {}).get("name", ""),
        "revision": status.get(status_fields.LAST_APPLIED_REVISION, ""),
        status_fields.SYNC: status.get(status_fields.SYNC, "Unknown"),
        status_fields.HEALTH: status.get(status_fields.HEALTH, "Unknown"),
        "ready": ready.get("status", "Unknown"),
        "suspended": bool(spec.get("suspend", False)),
        "message": ready.get("message", ""),
    }


WAITING_REASONS = ("DependencyNotReady", "DependencyCycle")


def application_details(
    app: KubeObject, dependencies: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """What ``status APP`` shows; ``dependencies`` as ``Cluster.dependencies_of`` reads
    them (each dependsOn entry with its Ready condition now)."""
    status, spec = app.get("status") or {}, app.get("spec") or {}
    source = spec.get("sourceRef") or {}
    ready = ready_condition(status)
    return {
        **application_row(app),
        "sourceNamespace": source.get("namespace") or app["metadata"]["namespace"],
        "path": spec.get("path", "."),
        "targetNamespace": spec.get("targetNamespace", ""),
        status_fields.UNAFFECTED_REVISION: unaffected_revision(status),
        **{
            key: status.get(key, "")
            for key in (
                status_fields.LAST_APPLIED_REVISION,
                status_fields.LAST_ATTEMPTED_REVISION,
                status_fields.LAST_GOOD_REVISION,
                status_fields.FAILED_REVISION,
                status_fields.LAST_APPLIED_AT,
                status_fields.LAST_HANDLED_RECONCILE_AT,
                status_fields.LAST_DRIFT_CHECK_AT,
            )
        },
        status_fields.FAILED_GENERATION: status.get(status_fields.FAILED_GENERATION),
        "dependsOn": list(dependencies or []),
        "waitingFor": ready.get("message", "") if ready.get("reason") in WAITING_REASONS else "",
        status_fields.SYNC_WAVE: status.get(status_fields.SYNC_WAVE) or None,
        status_fields.HOOKS: status.get(status_fields.HOOKS) or None,
        status_fields.INVENTORY: len(inventory.from_status(status)),
        status_fields.DRIFT: list(status.get(status_fields.DRIFT) or []),
        "conditions": list(status.get("conditions") or []),
    }


# -- tables --------------------------------------------------------------------------------


def applications_table(rows: list[dict[str, Any]], *, with_namespace: bool = False) -> str:
    headers = ["NAME", "SOURCE", "REVISION", "SYNC", "HEALTH", "READY", "MESSAGE"]
    cells = [
        [
            row["name"],
            row["source"],
            short_revision(row["revision"]),
            row[status_fields.SYNC],
            row[status_fields.HEALTH],
            "Suspended" if row["suspended"] else row["ready"],
            row["message"],
        ]
        for row in rows
    ]
    if with_namespace:
        headers.insert(0, "NAMESPACE")
        cells = [[row["namespace"], *cell] for row, cell in zip(rows, cells, strict=True)]
    return format_table(headers, cells)


def failed_revision_text(d: dict[str, Any]) -> str:
    """The quarantined revision. When it is the last good one too, it did become healthy
    once and what failed is applying it again: say that, not that the commit is bad."""
    failed = d[status_fields.FAILED_REVISION]
    if not failed:
        return "none"
    if failed == d[status_fields.LAST_GOOD_REVISION]:
        generation = d.get(status_fields.FAILED_GENERATION)
        at = f" at generation {generation}" if generation else ""
        return (
            f"{failed}: the last good revision, but applying it again{at} failed; held"
            " until a new commit, a spec change or a retry"
        )
    return f"{failed} (quarantined)"


def dependencies_text(dependencies: list[dict[str, Any]]) -> str:
    """``team/db (Ready), team/cache (not Ready: DependencyNotReady)``, or none."""
    if not dependencies:
        return "none"
    parts = []
    for dep in dependencies:
        if dep["ready"] == "True":
            parts.append(f"{dep['name']} (Ready)")
        elif dep["ready"] == "missing":
            parts.append(f"{dep['name']} (not found)")
        else:
            parts.append(f"{dep['name']} (not Ready: {dep['reason'] or dep['ready']})")
    return ", ".join(parts)


def sync_wave_text(record: dict[str, Any] | None) -> str:
    """The wave of a revision being applied wave by wave, or that none is in progress."""
    if not record:
        return "none in progress"
    remaining = int(record.get("remaining") or 0)
    after = f"{remaining} wave(s) after it" if remaining else "the last wave"
    return (
        f"wave {record.get('wave')} of {short_revision(str(record.get('revision') or ''))}"
        f" applied at {record.get('appliedAt', '?')}, waiting for it to become healthy; {after}"
    )


def hooks_text(record: dict[str, Any] | None) -> str:
    """``3 of main@sha1:abc123 (2 Succeeded, 1 Running)``, or none."""
    record = record or {}
    items = record.get("items") or []
    if not items:
        return "none"
    phases = Counter(str(i.get("phase")) for i in items)
    counted = ", ".join(f"{n} {phase}" for phase, n in sorted(phases.items()))
    return f"{len(items)} of {short_revision(str(record.get('revision') or ''))} ({counted})"


def hooks_table(record: dict[str, Any] | None) -> str:
    """One row per hook of ``status.hooks``: when it runs, what it is, where it is."""
    items = (record or {}).get("items") or []
    if not items:
        return ""
    rows = [
        [i.get("hook"), f"{i.get('kind')}/{i.get('name')}", i.get("phase"), i.get("message", "")]
        for i in items
    ]
    return "\nHooks:\n" + format_table(["HOOK", "OBJECT", "PHASE", "MESSAGE"], rows)


def details_table(d: dict[str, Any]) -> str:
    text = format_fields(
        [
            ("Name", f"{d['namespace']}/{d['name']}"),
            ("Source", f"GitRepository {d['sourceNamespace']}/{d['source']}, path {d['path']}"),
            ("Target namespace", d["targetNamespace"] or "(the Application's)"),
            ("Suspended", "yes" if d["suspended"] else "no"),
            ("Sync", d[status_fields.SYNC]),
            ("Health", d[status_fields.HEALTH]),
            ("Ready", f"{d['ready']}: {d['message']}" if d["message"] else d["ready"]),
            ("Applied revision", d[status_fields.LAST_APPLIED_REVISION] or "none"),
            *(
                [("Also current at", f"{unaffected} (changes none of its inputs)")]
                if (unaffected := d[status_fields.UNAFFECTED_REVISION])
                else []
            ),
            ("Last attempted", d[status_fields.LAST_ATTEMPTED_REVISION] or "none"),
            ("Last good revision", d[status_fields.LAST_GOOD_REVISION] or "none"),
            ("Failed revision", failed_revision_text(d)),
            ("Last applied at", d[status_fields.LAST_APPLIED_AT] or "never"),
            ("Last handled request", d[status_fields.LAST_HANDLED_RECONCILE_AT] or "none"),
            ("Last drift check", d[status_fields.LAST_DRIFT_CHECK_AT] or "never"),
            ("Depends on", dependencies_text(d["dependsOn"])),
            *([("Waiting for", d["waitingFor"])] if d["waitingFor"] else []),
            ("Sync wave", sync_wave_text(d[status_fields.SYNC_WAVE])),
            ("Hooks", hooks_text(d[status_fields.HOOKS])),
            ("Inventory", f"{d['inventory']} objects"),
            ("Drift", f"{len(d['drift'])} objects" if d[status_fields.DRIFT] else "none"),
        ]
    )
    for entry in d[status_fields.DRIFT]:
        text += f"  {entry.get('object')}" + (" (missing)\n" if entry.get("missing") else "\n")
        for f in entry.get("fields") or []:
            text += f"    {f.get('path')}: desired {f.get('desired')}, live {f.get('live')}\n"
    conditions = [
        [
            c.get("type"),
            c.get("status"),
            c.get("reason"),
            c.get("lastTransitionTime"),
            c.get("message"),
        ]
        for c in d["conditions"]
    ]
    text += hooks_table(d[status_fields.HOOKS])
    if conditions:
        headers = ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"]
        text += "\nConditions:\n" + format_table(headers, conditions)
    return text


def _changes_of(entry: dict[str, Any]) -> str:
    """What the revision changed; after a rollback, what the rollback did, apart."""
    text = changes_text(entry.get("changes")) or "-"
    rollback = changes_text(entry.get("rollbackChanges"))
    return f"{text}; rollback: {rollback}" if rollback else text


def history_table(entries: list[dict[str, Any]]) -> str:
    headers = ["REVISION", "RESULT", "STARTED", "FINISHED", "ROLLED BACK TO", "CHANGES", "MESSAGE"]
    rows = [
        [
            short_revision(str(e.get("revision", ""))),
            e.get("result", ""),
            e.get("startedAt", ""),
            e.get("finishedAt", ""),
            short_revision(str(e.get("rolledBackTo", ""))),
            _changes_of(e),
            e.get("message", ""),
        ]
        for e in entries
    ]
    return format_table(headers, rows)
