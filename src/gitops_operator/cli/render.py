"""``render`` (a local directory, offline) and ``diff`` (desired vs live, via dry-run)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .. import inventory
from ..api import (
    PRUNE_ANNOTATION,
    RenderSpec,
    RenderType,
    parse_application_spec,
    parse_helm_spec,
    status_fields,
)
from ..api.destination import parse_destination
from ..config import Settings
from ..errors import GitOpsError, NotFoundError, RenderError
from ..objects import Manifest
from ..reconcilers.accounts import require_account
from ..reconcilers.application import ApplicationReconciler
from ..reconcilers.decisions import TIMESTAMP
from ..reconcilers.run import ApplicationRun
from ..render import RenderTools, render
from ..source import GitSource, committed_view, repository_root
from ..substitute import mask_values
from .cluster import Cluster
from .output import OutputFormat, dump, format_table, value_text

log = logging.getLogger("gitops_operator.cli")


# -- render --------------------------------------------------------------------------------


def render_command(args: argparse.Namespace) -> int:
    """Render ``PATH`` as the operator renders a commit, and print the objects."""
    target = Path(args.path).resolve()
    if not target.is_dir():
        raise RenderError(f"{args.path}: not a directory")
    root = repository_root(target)
    rel = target.relative_to(root).as_posix() if root != target else "."
    spec = spec_from_flags(args, target)
    if is_chart(spec, target):
        note_offline_capabilities(spec)
    tools = RenderTools.from_settings(Settings.from_env())
    with committed_view(root) as checkout:
        manifests = render(
            checkout, rel, spec, tools=tools, release_name=target.name, namespace=args.namespace
        )
    print_manifests(manifests, OutputFormat(args.output))
    return 0


def spec_from_flags(args: argparse.Namespace, directory: Path) -> RenderSpec:
    """The render settings ``render``'s flags give (``diff --base`` takes them too); value
    files given from the current directory are made relative to ``directory``."""
    return RenderSpec(
        type=RenderType(args.type),
        helm=parse_helm_spec(
            {
                "releaseName": args.release_name,
                "valueFiles": [_chart_relative(f, directory) for f in args.values_file],
                "kubeVersion": args.kube_version,
                "apiVersions": args.api_versions,
            }
        ),
    )


def is_chart(spec: RenderSpec, directory: Path) -> bool:
    """Whether ``directory`` renders with Helm under ``spec``."""
    if spec.type is RenderType.AUTO:
        return (directory / "Chart.yaml").is_file()
    return spec.type is RenderType.HELM


def note_offline_capabilities(spec: RenderSpec) -> None:
    """Say on stderr that templates see Helm's default capabilities, not a cluster's."""
    if not (spec.helm.kube_version and spec.helm.api_versions):
        sys.stderr.write(
            "note: rendering offline: .Capabilities holds Helm's defaults (Kubernetes"
            " v1.20.0 and Helm's built-in API versions) where --kube-version and"
            " --api-versions are not given; the operator uses the destination cluster's\n"
        )


def print_manifests(manifests: list[Manifest], output: OutputFormat) -> None:
    objects = [m.obj for m in manifests]
    if output is OutputFormat.YAML:
        sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True))
    elif output is OutputFormat.JSON:
        sys.stdout.write(dump({"apiVersion": "v1", "kind": "List", "items": objects}, output))
    else:
        rows = [[m.ref.kind, m.ref.namespace, m.ref.name, m.source] for m in manifests]
        sys.stdout.write(format_table(["KIND", "NAMESPACE", "NAME", "SOURCE"], rows))


def _chart_relative(value_file: str, chart: Path) -> str:
    """A value file as given on the command line (a path from the current directory, if
    it exists there) made relative to the chart, as ``render.helm.valueFiles`` are."""
    given = Path(value_file)
    return os.path.relpath(given.resolve(), chart) if given.is_file() else value_file


# -- diff ----------------------------------------------------------------------------------


def diff_command(args: argparse.Namespace) -> int:
    """0: the live objects match what the operator would apply now; 1: they differ."""
    cluster = Cluster.connect(args.kubeconfig, args.namespace)
    app = cluster.application(args.target)
    with tempfile.TemporaryDirectory(prefix="gitops-diff-") as cache:
        report = desired_vs_live(cluster, app, Path(cache))
    output = OutputFormat(args.output)
    if output is OutputFormat.TABLE:
        sys.stdout.write(diff_text(report))
    else:
        sys.stdout.write(dump(report, output))
    return 1 if report["objects"] else 0


def desired_vs_live(cluster: Cluster, app: dict[str, Any], cache: Path) -> dict[str, Any]:
    """Render the source's current revision with the Application's spec through the
    operator's own reconciler steps, then dry-run it against the live objects."""
    settings = cluster.settings
    reconciler = ApplicationReconciler.from_settings(
        cluster.kube, GitSource.from_settings(settings, cache_dir=cache), settings
    )
    meta = app["metadata"]
    spec = parse_application_spec(app.get("spec") or {}, meta["namespace"])
    status = dict(app.get("status") or {})
    now = datetime.now(UTC).strftime(TIMESTAMP)
    require_account(
        cluster.kube, meta["namespace"], spec.service_account, reconciler.default_service_account
    )
    home = reconciler.manager_for(meta["namespace"], spec.service_account)
    destination = parse_destination(app.get("spec") or {})
    manager = reconciler.manager_for(meta["namespace"], spec.service_account, destination)
    run = ApplicationRun(app, spec, status, now, _read_only, log, manager)
    run.home = home.kube if destination.remote else None
    reconciler.load_post_build(run)
    reconciler.fetch_source(run)
    assert run.artifact is not None
    manifests = reconciler.render(run, run.artifact)
    objects: list[dict[str, Any]] = []
    for drift in run.manager.diff_all(manifests, spec.ignore_differences):
        fields = [
            {"path": c.path, "pointer": c.pointer, "desired": c.desired, "live": c.live}
            for c in drift.changes
        ]
        action = "create" if drift.missing else "update"
        objects.append({"object": str(drift.ref), "action": action, "fields": fields})
    if spec.prune:
        stale = inventory.stale(inventory.from_status(status), inventory.of_manifests(manifests))
        for ref, version in sorted(stale.items()):
            try:
                live = run.manager.kube.get(version, ref)
            except NotFoundError:
                continue  # its kind is gone: nothing left to prune
            annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
            if live is not None and annotations.get(PRUNE_ANNOTATION) != "disabled":
                objects.append({"object": str(ref), "action": "prune", "fields": []})
    notes = []
    if spec.suspend:
        notes.append("the Application is suspended: nothing is applied until `resume`")
    if run.revision == status.get(status_fields.FAILED_REVISION):
        notes.append("this revision failed and is quarantined: it is applied only after `retry`")
    report = {
        "application": f"{meta['namespace']}/{meta['name']}",
        "revision": run.revision,
        status_fields.LAST_APPLIED_REVISION: status.get(status_fields.LAST_APPLIED_REVISION, ""),
        "notes": notes,
        "objects": objects,
    }
    return dict(mask_values(report, run.secret_values))


def diff_text(report: dict[str, Any]) -> str:
    """``~`` changed (with each field), ``+`` to be created, ``-`` to be pruned."""
    head = f"Application {report['application']} at {report['revision']}"
    notes = "".join(f"note: {note}\n" for note in report.get("notes") or [])
    if not report["objects"]:
        return f"{head}: no differences, the live objects match\n{notes}"
    marks = {"update": "~", "create": "+", "prune": "-"}
    what = {"update": "", "create": " (to be created)", "prune": " (to be pruned)"}
    lines = [f"{head}: {len(report['objects'])} objects differ"]
    for obj in report["objects"]:
        lines.append(f"{marks[obj['action']]} {obj['object']}{what[obj['action']]}")
        for f in obj["fields"]:
            lines.append(f"    {f['path']}")
            lines.append(f"      desired: {value_text(f['desired'])}")
            lines.append(f"      live:    {value_text(f['live'])}")
    return "\n".join(lines) + "\n" + notes


def _read_only(status: dict[str, Any]) -> None:
    raise GitOpsError("internal error: diff tried to write the Application's status")
