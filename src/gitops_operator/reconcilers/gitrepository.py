"""Reconcile a GitRepository: resolve the ref, fetch on change, publish the artifact."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..api import GitRepositorySpec, parse_repository_spec, revision_string, status_fields
from ..conditions import ConditionType, ConditionUpdate, ready
from ..errors import VerificationError, redact
from ..kube import KubeClient
from ..metrics import observe_git
from ..source import (
    Artifact,
    Credentials,
    GitSource,
    ObjectKind,
    Revision,
    credentials_scope,
    verify_object,
)
from .credentials import load_credentials, load_trusted_keys
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
    """Steps: parse the spec, resolve the ref (one ls-remote), verify its signatures
    (``spec.verify``), fetch if the SHA is new.

    Sets ``status.artifact`` (revision, sha, message, author, fetchedAt, verification)
    and Ready. Raises ``InvalidSpecError``, ``SourceError`` or ``VerificationError``; the
    last artifact stays published.
    """
    spec = parse_repository_spec(obj.get("spec") or {})
    previous = dict((obj.get("status") or {}).get(status_fields.ARTIFACT) or {})
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
        resolved = git.resolve_revision(
            spec.url, spec.ref, timeout=spec.timeout, credentials=credentials
        )
    concrete, run.sha = resolved.ref, resolved.sha
    verification = verify_revision(run, namespace, git, kube, resolved, credentials)
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
    if verification or previous.get("verification"):
        artifact["verification"] = verification_patch(verification, previous)
    stored = f"stored artifact for revision {revision}{signed_by(verification)}"
    events = [Event("NewArtifact", stored, revision=revision)] if changed else []
    return Outcome(
        {status_fields.ARTIFACT: artifact},
        ready(stored, reason="Succeeded"),
        spec.interval,
        events,
    )


def verify_revision(
    run: RepositoryRun,
    namespace: str,
    git: GitSource,
    kube: KubeClient,
    revision: Revision,
    credentials: Credentials | None,
) -> dict[str, Any]:
    """``status.artifact.verification`` (``mode``, and ``commit`` and/or ``tag``: format,
    signer, fingerprint) when ``spec.verify`` is set and every signature it asks for was
    made by a key of its Secret; ``{}`` without ``spec.verify``.

    Raises ``VerificationError`` naming what it found (unsigned, the untrusted key); the
    commit is then neither extracted nor published."""
    spec = run.spec
    if spec.verify is None:
        return {}
    keys = load_trusted_keys(kube, namespace, spec.verify.secret_name)
    mode = spec.verify.mode
    objects = git.signed_objects(
        spec.url,
        revision,
        commit=mode.checks_commit,
        tag=mode.checks_tag,
        timeout=spec.timeout,
        credentials=credentials,
    )
    verification: dict[str, Any] = {"mode": mode.value}
    for signed in objects:
        name = (
            f"tag {revision.ref.value}"
            if signed.kind is ObjectKind.TAG
            else f"commit {revision.sha[:12]}"
        )
        try:
            verification[signed.kind.value] = verify_object(signed, keys, name=name).to_status()
        except VerificationError as exc:
            kept = run.previous.get("revision")
            raise VerificationError(
                f"{exc.message} (spec.verify mode {mode.value}, keys of Secret {keys.source});"
                + (f" {kept} stays the published artifact" if kept else " nothing is published")
            ) from None
    return verification


def verification_patch(new: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any] | None:
    """``new`` as a merge patch of the stored verification: what it no longer has is
    null (removed), and without ``spec.verify`` the whole of it is."""
    old = previous.get("verification")
    if not new:
        return None
    gone = {key: None for key in (old if isinstance(old, dict) else {}) if key not in new}
    return {**gone, **new}


def signed_by(verification: dict[str, Any]) -> str:
    """``; tag signed by ..., commit signed by ...`` for a status message, or ``""``."""
    parts = [
        f"{kind} signed by {entry.get('signer') or '?'} ({entry.get('fingerprint') or '?'})"
        for kind in ("tag", "commit")
        if isinstance(entry := verification.get(kind), dict)
    ]
    return "; " + ", ".join(parts) if parts else ""
