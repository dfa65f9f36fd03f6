"""The source of an Application's pass: the GitRepository's published artifact (its
revision and tree), and the tree of any commit of it, fetched by SHA when not cached."""

from __future__ import annotations

from typing import Any

from ..api import (
    API_VERSION,
    GROUP,
    REPOSITORY_KIND,
    GitRef,
    RefKind,
    parse_repository_spec,
    status_fields,
)
from ..conditions import ConditionType, ConditionUpdate, get_condition
from ..errors import (
    InvalidSpecError,
    SourceAwaitedError,
    SourceNotReadyError,
    SourcePendingError,
)
from ..kube import KubeClient
from ..objects import ObjectRef
from ..source import Artifact, GitSource, credentials_scope
from .credentials import load_credentials
from .decisions import seconds_since
from .run import ApplicationRun

SOURCE_GRACE = 30.0
"""Seconds a new Application waits for its GitRepository to appear before warning; a new
Application that was never written to waits as long, with nothing written, for its
source's first artifact."""


def fetch_source(
    run: ApplicationRun,
    kube: KubeClient,
    git: GitSource,
    repo: dict[str, Any] | None,
    *,
    no_cross_namespace_refs: bool,
) -> None:
    """Sets ``run.revision`` and ``run.artifact`` from the GitRepository's artifact, and
    ``run.source_failing`` (the SourceReady condition) while the repository fails.

    Raises ``SourceNotReadyError`` while the repository has none yet."""
    source = run.spec.source
    if no_cross_namespace_refs and source.namespace != run.namespace:
        raise InvalidSpecError(
            f"spec.sourceRef.namespace {source.namespace!r}: this operator forbids"
            " sources in other namespaces",
            reason="CrossNamespaceRef",
        )
    ref = ObjectRef(GROUP, REPOSITORY_KIND, source.namespace, source.name)
    if repo is None:  # not seen by the operator's watch yet
        repo = kube.get(API_VERSION, ref)
    age = seconds_since(str(run.obj["metadata"].get("creationTimestamp") or ""), run.now)
    # a new Application created together with its source, and seen first: nothing to
    # report yet (no status, no Event) while the source is on its way
    new = age < SOURCE_GRACE and not run.obj.get("status")
    pending = SourceAwaitedError if new else SourcePendingError
    if repo is None:
        if age < SOURCE_GRACE:
            raise pending(f"waiting for {ref} to be created", requeue_after=2.0)
        raise SourceNotReadyError(f"{ref} not found", requeue_after=10.0)
    published = (repo.get("status") or {}).get(status_fields.ARTIFACT) or {}
    repo_ready = (
        get_condition((repo.get("status") or {}).get("conditions") or [], ConditionType.READY) or {}
    )
    failing = repo_ready.get("status") == "False"
    if not published.get("sha"):
        if failing:
            raise SourceNotReadyError(
                f"{ref} has no artifact: {repo_ready.get('message', '')}",
                requeue_after=10.0,
            )
        raise pending(f"waiting for {ref} to fetch its first artifact", requeue_after=5.0)
    if failing:
        run.source_failing = ConditionUpdate(
            ConditionType.SOURCE_READY,
            False,
            str(repo_ready.get("reason") or "SourceFailed"),
            f"{ref} is failing since {repo_ready.get('lastTransitionTime', '?')}:"
            f" {repo_ready.get('message', '')}; its last artifact"
            f" {published.get('revision', '')} is still the one applied",
        )
    run.revision = str(published["revision"])
    run.repo_spec = dict(repo.get("spec") or {})
    run.artifact = artifact(kube, git, source.namespace, run.repo_spec, str(published["sha"]))


def artifact(
    kube: KubeClient, git: GitSource, namespace: str, repo_spec: dict[str, Any], sha: str
) -> Artifact:
    """The tree of ``sha`` as the repository's own URL and Secret fetched it: from the
    cache, else fetched by SHA (a SHA from elsewhere is no right to another's tree)."""
    spec = parse_repository_spec(repo_spec)
    scope = credentials_scope(namespace, spec.secret_name)
    cached = git.artifact(spec.url, sha, scope=scope)
    if cached:
        return cached
    credentials = load_credentials(kube, namespace, spec.secret_name)
    return git.fetch(
        spec.url,
        GitRef(RefKind.COMMIT, sha),
        sha,
        timeout=spec.timeout,
        credentials=credentials,
        scope=scope,
    )
