"""Reconcile a GitRepository: resolve the ref, fetch on change, publish the artifact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api import GitRepositorySpec, parse_repository_spec, revision_string
from ..conditions import ConditionType, ConditionUpdate, ready
from ..kube import KubeClient
from ..source import Artifact, GitSource
from .credentials import load_credentials
from .outcome import Event, Outcome


@dataclass(slots=True)
class RepositoryRun:
    spec: GitRepositorySpec
    previous: dict[str, Any]
    sha: str = ""
    artifact: Artifact | None = None


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
    credentials = load_credentials(kube, obj["metadata"]["namespace"], spec.secret_name)
    concrete, run.sha = git.resolve(
        spec.url, spec.ref, timeout=spec.timeout, credentials=credentials
    )
    run.artifact = git.artifact(run.sha) or git.fetch(
        spec.url, concrete, run.sha, timeout=spec.timeout, credentials=credentials
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
