"""The difference between two revisions of an Application's history: both commits
fetched (with the person's rights to the repository's Secret) and rendered as the
operator renders them, then compared object by object, Secret values masked."""

from __future__ import annotations

from dataclasses import dataclass

from ..api import (
    API_VERSION,
    GROUP,
    REPOSITORY_KIND,
    ApplicationSpec,
    parse_application_spec,
    sha_of,
)
from ..diff_report import Revision, RevisionDiff
from ..errors import GitOpsError, NotFoundError
from ..kube import KubeClient
from ..objects import KubeObject, Manifest, ObjectRef
from ..reconcilers.rollback import find_revision
from ..reconcilers.sources import artifact
from ..render import RenderTools, render
from ..render_diff import compare, place
from ..source import GitSource


@dataclass(frozen=True, slots=True)
class Renderer:
    """What rendering needs: the Git cache and the helm and kustomize binaries."""

    git: GitSource
    tools: RenderTools


def revision_diff(
    kube: KubeClient, renderer: Renderer, app: KubeObject, base: str, head: str
) -> RevisionDiff:
    """What changes from ``base`` to ``head`` (revisions of ``app``'s history, by name or
    SHA prefix). ``kube`` is the person's client."""
    meta = app["metadata"]
    namespace, name = str(meta["namespace"]), str(meta["name"])
    status = app.get("status") or {}
    revisions = []
    for wanted in (base, head):
        found = find_revision(status, wanted)
        if found is None:
            raise GitOpsError(
                f"{wanted!r} is not a revision in the history of {namespace}/{name}",
                reason="UnknownRevision",
            )
        revisions.append(found)
    spec = parse_application_spec(app.get("spec") or {}, namespace)
    source = spec.source
    repo = kube.get(API_VERSION, ObjectRef(GROUP, REPOSITORY_KIND, source.namespace, source.name))
    if repo is None:
        raise NotFoundError(f"GitRepository {source.namespace}/{source.name} not found")
    renders = [_render(kube, renderer, spec, repo, namespace, name, sha_of(r)) for r in revisions]
    notes = []
    if (app.get("spec") or {}).get("postBuild"):
        notes.append("spec.postBuild variables are not substituted in this comparison")
    title = f"Application {namespace}/{name} ({spec.path})"
    diffs = compare(renders[0], renders[1], spec.ignore_differences)
    return RevisionDiff(
        Revision(revisions[0], sha_of(revisions[0])),
        Revision(revisions[1], sha_of(revisions[1])),
        title,
        tuple(diffs),
        tuple(notes),
    )


def _render(
    kube: KubeClient,
    renderer: Renderer,
    spec: ApplicationSpec,
    repo: KubeObject,
    namespace: str,
    name: str,
    sha: str,
) -> list[Manifest]:
    tree = artifact(kube, renderer.git, str(repo["metadata"]["namespace"]), repo["spec"], sha)
    target = spec.target_namespace or namespace
    manifests = render(
        tree.path,
        spec.path,
        spec.render,
        tools=renderer.tools,
        release_name=spec.render.helm.release_name or name,
        namespace=target,
    )
    return place(manifests, target, force=bool(spec.target_namespace))
