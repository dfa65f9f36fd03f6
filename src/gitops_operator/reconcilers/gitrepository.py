"""Reconcile a GitRepository: resolve the ref, fetch on change, publish the artifact."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..api import GitRepositorySpec, parse_repository_spec, revision_string
from ..conditions import ConditionType, ConditionUpdate, ready
from ..errors import redact
from ..kube import KubeClient
from ..metrics import observe_git
from ..source import Artifact, GitSource, credentials_scope
from .credentials import load_credentials
from .outcome import Event, Outcome


@dataclass(slots=True)
class RepositoryRun:
    spec: GitRepositorySpec
    previous: dict[str, Any]
    sha: str = ""
    artifact: Artifact | None = None


@contextmanager
def _observed(url: str, request: str) -> Iterator[None]:
    """Time a git request into the metrics, labelled by the redacted URL."""
    started = time.monotonic()
    failed = True
    try:
        yield
        failed = False
    finally:
        observe_git(redact(url), request, time.monotonic() - started, failed=failed)


def reconcile_repository(
    obj: dict[str, Any], git: GitSource, kube: KubeClient, *, now: str
) -> Outcome:
    """Steps: parse the spec, resolve the ref (one ls-remote), fetch if the SHA is new.

    Sets ``status.artifact`` (revision, sha, message, author, fetchedAt) and Ready.
    Raises ``InvalidSpecError`` or ``SourceError``; the last artifact stays published.
    """
    spec = parse_repository_spec(obj.get("spec") or {})
    previous = dict((obj.get("status") or {}).get("artifact") or {})
    if spec.suspend:
        return Outcome(
            {},
            [
                ConditionUpdate(
                    ConditionType.READY, True, "Suspended", "reconciliation is suspended"
                )
            ],
            spec.interval,
        )
    run = RepositoryRun(spec, previous)
    namespace = obj["metadata"]["namespace"]
    credentials = load_credentials(kube, namespace, spec.secret_name)
    scope = credentials_scope(namespace, spec.secret_name)
    with _observed(spec.url, "ls-remote"):
        concrete, run.sha = git.resolve(
            spec.url, spec.ref, timeout=spec.timeout, credentials=credentials
        )
    run.artifact = git.artifact(spec.url, run.sha, scope=scope)
    if run.artifact is None:
        with _observed(spec.url, "fetch"):
            run.artifact = git.fetch(
                spec.url,
                concrete,
                run.sha,
                timeout=spec.timeout,
                credentials=credentials,
                scope=scope,
            )
    revision = revision_string(concrete, run.sha)
    changed = previous.get("sha") != run.sha
    artifact = {
        "revision": revision,
        "sha": run.sha,
        "message": run.artifact.message[:512],
        "author": run.artifact.author,
        "fetchedAt": now if changed else previous.get("fetchedAt", now),
    }
    events = [Event("NewArtifact", f"stored artifact for revision {revision}")] if changed else []
    return Outcome(
        {"artifact": artifact},
        ready(f"stored artifact for revision {revision}", reason="Succeeded"),
        spec.interval,
        events,
    )
