"""The custom resources: group, names, annotations, and typed views of their specs.

This is the only module that spells CRD field names. The CRD schema in ``deploy/crds``
validates input at admission; ``parse_*`` turns a validated ``spec`` into values and
raises ``InvalidSpecError`` for what a schema cannot express.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import InvalidSpecError
from . import status_fields as status_fields
from .dependencies import ObjectDependency, is_application_entry, parse_object_dependencies
from .git_revert import GitRevertSpec as GitRevertSpec
from .git_revert import parse_git_revert
from .health_checks import HealthCheckExpr as HealthCheckExpr
from .health_checks import parse_health_check_exprs as parse_health_check_exprs
from .health_checks import parse_health_check_exprs_text as parse_health_check_exprs_text
from .helm import CHART_REPOSITORY_SCHEMES as CHART_REPOSITORY_SCHEMES
from .helm import ChartRepository as ChartRepository
from .helm import HelmSpec as HelmSpec
from .helm import parse_helm_spec as parse_helm_spec
from .verify import VerifySpec, parse_verify

GROUP = "gitops-operator.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
REPOSITORY_KIND = "GitRepository"
REPOSITORY_PLURAL = "gitrepositories"
APPLICATION_KIND = "Application"
APPLICATION_PLURAL = "applications"

REQUESTED_AT_ANNOTATION = f"{GROUP}/requestedAt"
"""Changing this annotation asks for an immediate reconcile; echoed in status."""
RETRY_ANNOTATION = f"{GROUP}/retryAt"
"""Changing this annotation lets a quarantined (failed) revision be tried again."""
ROLLBACK_AT_ANNOTATION = f"{GROUP}/rollbackAt"
"""A new value (a timestamp) asks for one rollback to the revision ``rollbackTo`` names;
answered once, echoed in ``status.lastHandledRollbackAt``."""
ROLLBACK_TO_ANNOTATION = f"{GROUP}/rollbackTo"
"""The target of the rollback ``rollbackAt`` asks for: a revision of status.history, or
its SHA. The rolled-back revision holds the source's current one until a new commit."""
PRUNE_ANNOTATION = f"{GROUP}/prune"
"""``disabled`` on an object keeps it when its manifest leaves the repository."""
SYNC_WAVE_ANNOTATION = f"{GROUP}/sync-wave"
"""An object's sync wave (an integer, default 0): waves are applied in ascending order,
each one healthy before the next; ``ARGO_SYNC_WAVE_ANNOTATION`` is read when it is absent."""
HOOK_ANNOTATION = f"{GROUP}/hook"
"""Marks a hook (``hooks``): run in its phase, never in the inventory."""
HOOK_DELETE_POLICY_ANNOTATION = f"{GROUP}/hook-delete-policy"
ARGO_SYNC_WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
ARGO_SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"
"""Argo CD's per-object sync options, comma-separated ``Key=Value`` (``sync_options``)."""
ARGO_COMPARE_OPTIONS_ANNOTATION = "argocd.argoproj.io/compare-options"
ARGO_HOOK_ANNOTATION = "argocd.argoproj.io/hook"
HELM_HOOK_ANNOTATION = "helm.sh/hook"
ARGO_HOOK_DELETE_POLICY_ANNOTATION = "argocd.argoproj.io/hook-delete-policy"
HELM_HOOK_DELETE_POLICY_ANNOTATION = "helm.sh/hook-delete-policy"
SNAPSHOT_PREFIX = "gitops-snapshot-"
"""Secrets named ``<prefix><application>`` keep the rendered manifests of a revision."""

DEFAULT_REPOSITORY_INTERVAL = "1m"
MAX_GIT_TIMEOUT = 600.0
"""``spec.timeout`` of a GitRepository is clamped to 1s..10m: a server that never answers
holds one of the operator's shared workers for at most this long."""
DEFAULT_APPLICATION_INTERVAL = "5m"
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, *, field_name: str) -> float:
    """Parse a Go-style duration such as ``90s``, ``1m30s`` or ``2h`` into seconds."""
    text = text.strip()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise InvalidSpecError(
            f"{field_name}: {text!r} is not a duration (use e.g. 30s, 5m, 1h30m)"
        )
    return total


class RefKind(StrEnum):
    BRANCH = "branch"
    TAG = "tag"
    SEMVER = "semver"
    COMMIT = "commit"


@dataclass(frozen=True, slots=True)
class GitRef:
    """What to check out. Precedence when several are set: commit > semver > tag > branch."""

    kind: RefKind
    value: str

    @property
    def name(self) -> str:
        """The human part of a revision string: the branch or tag name, or the SHA."""
        return self.value or "HEAD"


@dataclass(frozen=True, slots=True)
class GitRepositorySpec:
    url: str
    ref: GitRef
    interval: float
    timeout: float
    secret_name: str | None
    suspend: bool
    verify: VerifySpec | None = None


WEBHOOK_TOKEN_KEY = "token"  # noqa: S105 (a key name)


def webhook_secret_name(spec: dict[str, Any]) -> str | None:
    """``spec.webhook.secretRef.name``: the Secret (key ``token``) of the repository's own
    webhook; with it, deliveries signed with the shared secret no longer wake it."""
    name = ((spec.get("webhook") or {}).get("secretRef") or {}).get("name")
    return str(name) if name else None


def parse_repository_spec(spec: dict[str, Any]) -> GitRepositorySpec:
    url = spec.get("url")
    if not isinstance(url, str) or not url:
        raise InvalidSpecError("spec.url is required")
    ref = parse_ref(spec.get("ref") or {})
    return GitRepositorySpec(
        url=url,
        ref=ref,
        interval=parse_duration(
            spec.get("interval", DEFAULT_REPOSITORY_INTERVAL), field_name="spec.interval"
        ),
        timeout=min(
            max(parse_duration(spec.get("timeout", "60s"), field_name="spec.timeout"), 1.0),
            MAX_GIT_TIMEOUT,
        ),
        secret_name=(spec.get("secretRef") or {}).get("name"),
        suspend=bool(spec.get("suspend", False)),
        verify=parse_verify(
            spec.get("verify"), ref_is_tag=ref.kind in (RefKind.TAG, RefKind.SEMVER)
        ),
    )


def parse_ref(ref: dict[str, Any]) -> GitRef:
    for kind in (RefKind.COMMIT, RefKind.SEMVER, RefKind.TAG, RefKind.BRANCH):
        value = ref.get(kind.value)
        if value:
            if kind is RefKind.COMMIT and not re.fullmatch(r"[0-9a-f]{40}", value):
                raise InvalidSpecError(f"spec.ref.commit: {value!r} is not a full 40-hex SHA")
            return GitRef(kind, str(value))
    return DEFAULT_BRANCH


DEFAULT_BRANCH = GitRef(RefKind.BRANCH, "")
"""No ``spec.ref``: the branch the remote's HEAD names (its default branch), as
``git clone`` and Argo CD's ``HEAD`` take it."""


class RenderType(StrEnum):
    AUTO = "auto"
    PLAIN = "plain"
    KUSTOMIZE = "kustomize"
    HELM = "helm"


@dataclass(frozen=True, slots=True)
class SourceRef:
    name: str
    namespace: str


@dataclass(frozen=True, slots=True, order=True)
class DependencyRef:
    """An Application this one waits for (``spec.dependsOn``)."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class RenderSpec:
    type: RenderType = RenderType.AUTO
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    helm: HelmSpec = field(default_factory=HelmSpec)


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """``spec.ignoreDifferences[]``: fields neither diffed nor overwritten on matching objects."""

    group: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    json_pointers: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RollbackSpec:
    enabled: bool = True
    on_apply_failure: bool = True
    on_health_failure: bool = True
    soak_period: float = 0.0
    """Seconds after a revision first turns healthy during which turning Degraded still
    rolls it back; it becomes the last good revision only when the soak period ends."""
    git_revert: GitRevertSpec | None = None
    """After an automatic rollback, push a commit reverting the failed range."""


class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    ORPHAN = "Orphan"


@dataclass(frozen=True, slots=True)
class ApplicationSpec:
    source: SourceRef
    path: str
    render: RenderSpec
    target_namespace: str | None
    prune: bool
    allow_empty: bool
    interval: float
    suspend: bool
    self_heal: bool = False
    drift_interval: float = 60.0
    health_timeout: float = 300.0
    rollback: RollbackSpec = field(default_factory=RollbackSpec)
    max_deletions: int | None = None
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    ignore_differences: tuple[IgnoreRule, ...] = ()
    service_account: str = ""
    depends_on: tuple[DependencyRef, ...] = ()
    depends_on_objects: tuple[ObjectDependency, ...] = ()
    """The ``dependsOn`` entries that name other objects than Applications."""
    health_check_exprs: tuple[HealthCheckExpr, ...] = ()
    """Health rules per kind in CEL; they replace the built-in rules for their kind."""


def parse_application_spec(spec: dict[str, Any], namespace: str) -> ApplicationSpec:
    source = spec.get("sourceRef") or {}
    if not source.get("name"):
        raise InvalidSpecError("spec.sourceRef.name is required")
    render = spec.get("render") or {}
    rollback = spec.get("rollback") or {}
    path = str(spec.get("path", ".")) or "."
    return ApplicationSpec(
        source=SourceRef(source["name"], source.get("namespace") or namespace),
        path=path,
        render=RenderSpec(
            type=RenderType(render.get("type", RenderType.AUTO)),
            include=tuple(render.get("include") or ()),
            exclude=tuple(render.get("exclude") or ()),
            helm=parse_helm_spec(render.get("helm") or {}),
        ),
        target_namespace=spec.get("targetNamespace") or None,
        prune=bool(spec.get("prune", True)),
        allow_empty=bool(spec.get("allowEmpty", False)),
        interval=parse_duration(
            spec.get("interval", DEFAULT_APPLICATION_INTERVAL), field_name="spec.interval"
        ),
        suspend=bool(spec.get("suspend", False)),
        self_heal=bool(spec.get("selfHeal", False)),
        drift_interval=parse_duration(
            spec.get("driftInterval", "1m"), field_name="spec.driftInterval"
        ),
        health_timeout=parse_duration(
            spec.get("healthTimeout", "5m"), field_name="spec.healthTimeout"
        ),
        rollback=RollbackSpec(
            enabled=bool(rollback.get("enabled", True)),
            on_apply_failure=bool(rollback.get("onApplyFailure", True)),
            on_health_failure=bool(rollback.get("onHealthFailure", True)),
            soak_period=parse_duration(
                rollback.get("soakPeriod", "0s"), field_name="spec.rollback.soakPeriod"
            ),
            git_revert=parse_git_revert(rollback.get(status_fields.GIT_REVERT)),  # same name
        ),
        max_deletions=spec.get("maxDeletions"),
        deletion_policy=DeletionPolicy(spec.get("deletionPolicy", DeletionPolicy.DELETE)),
        service_account=parse_service_account(spec.get("serviceAccountName")),
        depends_on=parse_depends_on(spec, namespace),
        depends_on_objects=parse_object_dependencies(spec.get("dependsOn"), namespace),
        health_check_exprs=parse_health_check_exprs(
            spec.get("healthCheckExprs"), "spec.healthCheckExprs"
        ),
        ignore_differences=tuple(
            IgnoreRule(
                group=rule.get("group"),
                kind=rule.get("kind"),
                name=rule.get("name"),
                namespace=rule.get("namespace"),
                json_pointers=tuple(rule.get("jsonPointers") or ()),
                managers=tuple(rule.get("managedFieldsManagers") or ()),
            )
            for rule in spec.get("ignoreDifferences") or ()
        ),
    )


def parse_service_account(value: Any) -> str:
    """``spec.serviceAccountName``: a bare name, always of the Application's own namespace
    (``other-ns:name`` or ``system:serviceaccount:...`` cannot name another tenant's)."""
    name = str(value or "")
    if name and not _DNS_SUBDOMAIN.fullmatch(name):
        raise InvalidSpecError(
            f"spec.serviceAccountName {name!r} is not a ServiceAccount name (lowercase letters,"
            " digits, '-' and '.'); it always names an account in the Application's namespace"
        )
    return name


def parse_depends_on(spec: dict[str, Any], namespace: str) -> tuple[DependencyRef, ...]:
    """The Applications of ``spec.dependsOn``; a dependency's namespace defaults to the
    Application's. Entries naming other objects are ``depends_on_objects``."""
    return tuple(
        DependencyRef(str(dep.get("namespace") or namespace), str(dep["name"]))
        for dep in spec.get("dependsOn") or ()
        if isinstance(dep, dict) and dep.get("name") and is_application_entry(dep)
    )


def sha_of(revision: str) -> str:
    """The commit SHA of a revision string (``main@sha1:<sha>`` -> ``<sha>``)."""
    return revision.rpartition("sha1:")[2]


def revision_string(ref: GitRef, sha: str) -> str:
    """Flux-style revision: ``main@sha1:<sha>``, or ``sha1:<sha>`` for a pinned commit."""
    if ref.kind is RefKind.COMMIT:
        return f"sha1:{sha}"
    return f"{ref.name}@sha1:{sha}"
