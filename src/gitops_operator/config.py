"""Operator-wide settings, read once from the environment into a frozen value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .sharding import ShardingMode


def _tool(name: str) -> str:
    """A pinned binary from hack/build-binaries.sh's cache, else whatever is on PATH."""
    base = os.environ.get("GITOPS_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gitops-operator"
    )
    cached = Path(base) / "bin" / name
    return str(cached) if cached.exists() else name


DEFAULT_SERVICE_ACCOUNT = "gitops-reconciler"
"""The account an Application acts as when it names none: a name of its own, not
``default`` (which every namespace has and every Pod without one runs as), so that a
namespace is onboarded on purpose and the rights given for deploying reach no Pod."""

HEALTH_CHECK_EXPRS_ENV = "GITOPS_HEALTH_CHECK_EXPRS"
"""Operator-wide health rules in CEL: a YAML or JSON list shaped like an Application's
``spec.healthCheckExprs``, which override them for the same apiVersion and kind."""

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def operator_namespace(env: Mapping[str, str] | None = None) -> str:
    """The namespace the operator runs in: ``GITOPS_NAMESPACE``, else ``POD_NAMESPACE`` (the
    chart sets it from the downward API), else the mounted ServiceAccount's namespace,
    else ``default`` (a process outside any cluster)."""
    env = os.environ if env is None else env
    named = env.get("GITOPS_NAMESPACE") or env.get("POD_NAMESPACE")
    if named:
        return named
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-operator" / "artifacts"


@dataclass(frozen=True, slots=True)
class Settings:
    """Knobs an administrator sets per operator process (flags or ``GITOPS_*`` env)."""

    field_manager: str = "gitops-operator"
    """Server-side apply field manager: the owner of every field we write."""
    cache_dir: Path = field(default_factory=_default_cache_dir)
    """Where Git mirrors and per-commit artifacts live."""
    concurrency: int = 4
    """Reconciles that may run at once."""
    apply_concurrency: int = 8
    """Dry-run and apply requests in flight at once within one reconcile."""
    git_timeout: float = 60.0
    """Seconds a single ls-remote or fetch may take."""
    retry_interval: float = 30.0
    """Seconds before a transient failure is retried."""
    allow_local_sources: bool = False
    """Admit ``file://`` and local paths as repository URLs (tests and demos only)."""
    allowed_git_hosts: tuple[str, ...] = ()
    """Hosts a repository URL may name although they are loopback, link-local, private or
    inside the cluster (``GITOPS_ALLOWED_GIT_HOSTS``, comma-separated): names
    (``git.corp.example``, ``*.corp.example``), addresses or networks (``10.0.0.0/8``).
    Empty: only public addresses."""
    max_tree_bytes: int = 256 * 1024 * 1024
    """Bytes a fetched commit's tree may hold (``GITOPS_MAX_TREE_BYTES``)."""
    max_tree_files: int = 100_000
    """Files a fetched commit's tree may hold (``GITOPS_MAX_TREE_FILES``)."""
    max_cache_bytes: int = 1024 * 1024 * 1024
    """Bytes of artifacts kept on disk; the least recently used go first
    (``GITOPS_CACHE_MAX_BYTES``)."""
    helm_binary: str = field(default_factory=lambda: _tool("helm"))
    """The helm binary used by ``helm template``."""
    kustomize_binary: str = field(default_factory=lambda: _tool("kustomize"))
    """The kustomize binary used by ``kustomize build``."""
    render_timeout: float = 60.0
    """Seconds one render may take before its process is killed."""
    chart_repository_hosts: tuple[str, ...] = ()
    """Hosts chart dependencies may be downloaded from (``host``, ``host:port``,
    ``*.domain`` or ``*``). Empty: none; only vendored and ``file://`` dependencies work."""
    chart_timeout: float = 60.0
    """Seconds the dependency downloads of one render may take together."""
    max_chart_bytes: int = 20 * 1024 * 1024
    """Largest chart archive a dependency download may bring."""
    default_service_account: str = DEFAULT_SERVICE_ACCOUNT
    """ServiceAccount (in the Application's namespace) impersonated when an Application
    names none (``GITOPS_DEFAULT_SERVICE_ACCOUNT``). Set to empty, Applications without
    one act with the operator's own identity: only where every Application is trusted."""
    no_cross_namespace_refs: bool = True
    """Refuse Applications whose sourceRef or dependsOn points into another namespace
    (``GITOPS_NO_CROSS_NAMESPACE_REFS``, ``false`` to allow them)."""
    leader_elect: bool = False
    """Run only while holding the Lease ``leader_election_name`` (for several replicas)."""
    leader_election_namespace: str = "default"
    leader_election_name: str = "gitops-operator-leader"
    lease_duration: int = 15
    """Seconds a leader's Lease lasts without renewal: a standby takes over after it."""
    sharding: ShardingMode = ShardingMode.OFF
    """``GITOPS_SHARDING``: ``off`` (one replica, or one leader), ``hash`` (replicas share
    the resources by consistent hashing over membership Leases) or ``labels`` (each
    replica reconciles what ``shard_selector`` matches)."""
    shard_selector: str = ""
    """``GITOPS_SHARD_SELECTOR``: the label selector of this replica in labels mode."""
    shard_group: str = "gitops-operator"
    """``GITOPS_SHARD_GROUP``: the replicas sharing work in hash mode (their Leases carry it)."""
    shard_identity: str = ""
    """``GITOPS_SHARD_IDENTITY``: this replica's name (the chart: the pod's name); empty:
    host name and process ID."""
    shard_renew_period: float = 2.0
    """``GITOPS_SHARD_RENEW_PERIOD``: seconds between renewals of the membership Lease;
    ``lease_duration`` is how long a silent member counts as live."""
    metrics_port: int = 8080
    """Port of the Prometheus /metrics endpoint; 0 disables it."""
    webhook_port: int = 9292
    """Port of the push webhook receiver (POST /hooks/<provider>); 0 disables it."""
    webhook_secret: str = ""
    """``namespace/name`` of the Secret holding one key per provider (github, gitlab,
    gitea, bitbucket): each receiver's secret. Without it every delivery gets 401."""
    drift_watches: bool = True
    """Watch the kinds in use (metadata only) so that another manager's change of a
    managed object is checked for drift at once (``GITOPS_DRIFT_WATCHES``, ``false`` to
    leave drift to each Application's driftInterval)."""
    health_check_exprs: str = ""
    """``GITOPS_HEALTH_CHECK_EXPRS``, as given: parsed and compiled when the reconciler
    is built, so that a list that does not compile stops the operator at start."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``GITOPS_*`` variables; unset ones keep their defaults."""
        env = os.environ if env is None else env
        default = cls()

        def num(name: str, value: float) -> float:
            raw = env.get(name)
            return float(raw) if raw else value

        return cls(
            field_manager=env.get("GITOPS_FIELD_MANAGER", default.field_manager),
            cache_dir=Path(env.get("GITOPS_CACHE_DIR", str(default.cache_dir))),
            concurrency=int(num("GITOPS_CONCURRENCY", default.concurrency)),
            apply_concurrency=int(num("GITOPS_APPLY_CONCURRENCY", default.apply_concurrency)),
            git_timeout=num("GITOPS_GIT_TIMEOUT", default.git_timeout),
            retry_interval=num("GITOPS_RETRY_INTERVAL", default.retry_interval),
            allow_local_sources=env.get("GITOPS_ALLOW_LOCAL_SOURCES", "") in {"1", "true"},
            allowed_git_hosts=tuple(
                h.strip() for h in env.get("GITOPS_ALLOWED_GIT_HOSTS", "").split(",") if h.strip()
            ),
            max_tree_bytes=int(num("GITOPS_MAX_TREE_BYTES", default.max_tree_bytes)),
            max_tree_files=int(num("GITOPS_MAX_TREE_FILES", default.max_tree_files)),
            max_cache_bytes=int(num("GITOPS_CACHE_MAX_BYTES", default.max_cache_bytes)),
            helm_binary=env.get("GITOPS_HELM_BINARY", default.helm_binary),
            kustomize_binary=env.get("GITOPS_KUSTOMIZE_BINARY", default.kustomize_binary),
            render_timeout=num("GITOPS_RENDER_TIMEOUT", default.render_timeout),
            chart_repository_hosts=tuple(
                h.strip()
                for h in env.get("GITOPS_CHART_REPOSITORY_HOSTS", "").split(",")
                if h.strip()
            ),
            chart_timeout=num("GITOPS_CHART_TIMEOUT", default.chart_timeout),
            max_chart_bytes=int(num("GITOPS_MAX_CHART_BYTES", default.max_chart_bytes)),
            # set and empty: no default account (the operator's own identity)
            default_service_account=env.get(
                "GITOPS_DEFAULT_SERVICE_ACCOUNT", default.default_service_account
            ),
            no_cross_namespace_refs=env.get("GITOPS_NO_CROSS_NAMESPACE_REFS", "true").lower()
            not in {"0", "false"},
            leader_elect=env.get("GITOPS_LEADER_ELECT", "") in {"1", "true"},
            leader_election_namespace=env.get("GITOPS_LEADER_ELECTION_NAMESPACE")
            or env.get("POD_NAMESPACE")
            or default.leader_election_namespace,
            leader_election_name=env.get(
                "GITOPS_LEADER_ELECTION_NAME", default.leader_election_name
            ),
            lease_duration=int(num("GITOPS_LEASE_DURATION", default.lease_duration)),
            sharding=ShardingMode(env.get("GITOPS_SHARDING", "off").strip().lower() or "off"),
            shard_selector=env.get("GITOPS_SHARD_SELECTOR", default.shard_selector),
            shard_group=env.get("GITOPS_SHARD_GROUP", default.shard_group),
            shard_identity=env.get("GITOPS_SHARD_IDENTITY", default.shard_identity),
            shard_renew_period=num("GITOPS_SHARD_RENEW_PERIOD", default.shard_renew_period),
            metrics_port=int(num("GITOPS_METRICS_PORT", default.metrics_port)),
            webhook_port=int(num("GITOPS_WEBHOOK_PORT", default.webhook_port)),
            webhook_secret=env.get("GITOPS_WEBHOOK_SECRET", default.webhook_secret),
            drift_watches=env.get("GITOPS_DRIFT_WATCHES", "true").lower() not in {"0", "false"},
            health_check_exprs=env.get(HEALTH_CHECK_EXPRS_ENV, default.health_check_exprs),
        )
