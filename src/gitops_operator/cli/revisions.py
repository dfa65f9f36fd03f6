"""``diff --base REV [--head REV] [PATH | --app FILE]``: what a change to the repository
would change in the cluster, from the checkout alone (no cluster, no credentials).

Both revisions are read from Git into temporary directories (the head, by default, is
the working tree as it would be committed) and rendered as ``render`` renders a
directory: with its flags for ``PATH``, or, with ``--app``, with the Application
manifest's ``spec`` as that revision holds it (path, render settings, targetNamespace,
ignoreDifferences), as the operator would. The working tree and the index are never
changed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api import API_VERSION, APPLICATION_KIND, IgnoreRule, RenderSpec, parse_application_spec
from ..config import Settings
from ..diff_report import (
    Revision,
    RevisionDiff,
    as_data,
    as_markdown,
    as_text,
    render_failure_markdown,
)
from ..errors import GitOpsError, InvalidSpecError, RenderError, SourceError
from ..objects import Manifest, load_manifests
from ..render import RenderTools, render
from ..render_diff import compare, place
from ..source import commit_tree, committed_view, repository_root
from .output import OutputFormat, dump
from .render import is_chart, note_offline_capabilities, spec_from_flags

MARKDOWN = "markdown"


@dataclass(frozen=True, slots=True)
class Target:
    """What to render in one revision's tree, and how the operator would place it."""

    path: str
    """Relative to the repository's root."""
    spec: RenderSpec
    release_name: str
    namespace: str
    force_namespace: bool
    """``targetNamespace``: every namespaced object goes to ``namespace``."""
    title: str
    """What is rendered, for people: ``apps/shop``, ``Application team/shop (apps/shop)``."""
    ignore: tuple[IgnoreRule, ...] = ()


def diff_revisions(args: argparse.Namespace) -> int:
    """0: both revisions render the same objects; 1: some differ; 2 (raised): an error."""
    if args.app and args.target:
        raise InvalidSpecError("give PATH or --app FILE, not both")
    if args.app and (args.type != "auto" or args.release_name or args.values_file):
        raise InvalidSpecError("--type, --release-name and --values-file come from --app FILE")
    location = Path(args.app or args.target or ".").absolute()
    root = repository_root(_nearest_existing(location))
    if not (root / ".git").exists():
        raise SourceError(f"{location} is not inside a Git repository")
    if not location.is_relative_to(root):
        raise InvalidSpecError(f"{location} is outside the repository {root}")
    tools = RenderTools.from_settings(Settings.from_env())
    revisions: dict[str, Revision] = {}
    targets: dict[str, Target | None] = {}
    renders: dict[str, list[Manifest]] = {}
    notes: list[str] = []
    with ExitStack() as stack:
        for side, given in (("base", args.base), ("head", args.head)):
            if given:
                tree, sha = stack.enter_context(commit_tree(root, given))
                revisions[side] = Revision(given, sha)
            else:
                tree, revisions[side] = stack.enter_context(committed_view(root)), Revision("")
            target = targets[side] = _target(args, root, location, tree)
            if target is None or _absent(tree / target.path):
                missing = location.relative_to(root) if target is None else target.path
                notes.append(f"{missing} does not exist in the {side} revision")
                renders[side] = []
                continue
            if is_chart(target.spec, tree / target.path) and side == "head":
                note_offline_capabilities(target.spec)
            try:
                renders[side] = _render(tree, target, tools)
            except GitOpsError as exc:
                failed = f"the {side} revision, {revisions[side]}, does not render"
                if args.output == MARKDOWN:
                    sys.stdout.write(render_failure_markdown(failed, target.title, exc.message))
                raise RenderError(f"{target.title}: {failed}: {exc.message}") from exc
    if len(notes) == 2:
        raise SourceError("; ".join(notes))
    known = [t for t in (targets["head"], targets["base"]) if t is not None]
    diffs = compare(renders["base"], renders["head"], known[0].ignore)
    report = RevisionDiff(
        revisions["base"], revisions["head"], known[0].title, tuple(diffs), tuple(notes)
    )
    _print(report, args.output)
    return 1 if diffs else 0


def _target(args: argparse.Namespace, root: Path, location: Path, tree: Path) -> Target | None:
    """From the flags (PATH), or from the Application manifest in ``tree`` (``--app``);
    None when that revision has no such manifest."""
    rel = location.relative_to(root).as_posix() or "."
    if not args.app:
        spec = spec_from_flags(args, location)
        return Target(rel, spec, location.name, args.namespace, False, rel)
    manifest = tree / rel
    if not manifest.is_file():
        return None
    app = _application(load_manifests(manifest.read_text(encoding="utf-8"), rel), rel)
    meta = app.get("metadata") or {}
    namespace = str(meta.get("namespace") or args.namespace)
    app_spec = parse_application_spec(app.get("spec") or {}, namespace)
    helm = app_spec.render.helm
    if is_chart(app_spec.render, tree / app_spec.path):  # the flags stand in for the cluster's
        helm = dataclasses.replace(
            helm,
            kube_version=helm.kube_version or args.kube_version,
            api_versions=helm.api_versions or tuple(args.api_versions),
        )
    return Target(
        path=app_spec.path,
        spec=dataclasses.replace(app_spec.render, helm=helm),
        release_name=helm.release_name or str(meta["name"]),
        namespace=app_spec.target_namespace or namespace,
        force_namespace=app_spec.target_namespace is not None,
        title=f"Application {namespace}/{meta['name']} ({app_spec.path})",
        ignore=app_spec.ignore_differences,
    )


def _application(manifests: list[Manifest], source: str) -> dict[str, Any]:
    apps = [
        m.obj
        for m in manifests
        if m.obj.get("kind") == APPLICATION_KIND and m.obj.get("apiVersion") == API_VERSION
    ]
    if len(apps) != 1:
        raise InvalidSpecError(
            f"{source}: --app needs a file with one {APPLICATION_KIND} ({API_VERSION}),"
            f" it holds {len(apps)}"
        )
    return apps[0]


def _render(tree: Path, target: Target, tools: RenderTools) -> list[Manifest]:
    manifests = render(
        tree,
        target.path,
        target.spec,
        tools=tools,
        release_name=target.release_name,
        namespace=target.namespace,
    )
    return place(manifests, target.namespace, force=target.force_namespace)


def _print(report: RevisionDiff, output: str) -> None:
    if output == MARKDOWN:
        sys.stdout.write(as_markdown(report))
    elif output == OutputFormat.TABLE:
        sys.stdout.write(as_text(report))
    else:
        sys.stdout.write(dump(as_data(report), OutputFormat(output)))


def _absent(path: Path) -> bool:
    """Nothing at all at ``path``: a missing side, not an error (render judges the rest)."""
    return not (path.exists() or path.is_symlink())


def _nearest_existing(path: Path) -> Path:
    """``path``, or its nearest existing parent (a path may exist only in the base)."""
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return path
