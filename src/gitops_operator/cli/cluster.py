"""The CLI's side of the cluster: connect, find custom resources, nudge them, wait."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ..api import API_VERSION, APPLICATION_KIND, GROUP, REPOSITORY_KIND
from ..api.dependencies import is_application_entry, parse_object_dependencies
from ..config import Settings
from ..errors import GitOpsError, NotFoundError, WaitTimeoutError
from ..kube import KubeClient, load_api_client
from ..objects import KubeObject, ObjectRef
from ..reconcilers.readiness import compile_ready_exprs, object_blocker

POLL_INTERVAL = 0.5
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(slots=True)
class Cluster:
    """A client under the operator's field manager (so dry-runs diff as the operator
    would apply) and the namespace the command works in."""

    kube: KubeClient
    namespace: str
    settings: Settings

    @classmethod
    def connect(cls, kubeconfig: str | None, namespace: str | None) -> Cluster:
        settings = Settings.from_env()
        try:
            api = load_api_client(kubeconfig)
        except Exception as exc:  # the client library's config errors, named for people
            where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
            raise GitOpsError(
                f"cannot load kubeconfig {where}: {exc}", reason="NoKubeconfig"
            ) from exc
        kube = KubeClient(api, field_manager=settings.field_manager)
        return cls(kube, namespace or default_namespace(kubeconfig), settings)

    def application_ref(self, name: str) -> ObjectRef:
        return ObjectRef(GROUP, APPLICATION_KIND, self.namespace, name)

    def application(self, name: str) -> KubeObject:
        """The Application ``name``, or a ``NotFoundError`` saying where it was looked for."""
        obj = self.kube.get(API_VERSION, self.application_ref(name))
        if obj is None:
            raise NotFoundError(f"Application {self.namespace}/{name} not found")
        return obj

    def applications(self, all_namespaces: bool = False) -> list[KubeObject]:
        items = self.kube.list(
            API_VERSION, APPLICATION_KIND, None if all_namespaces else self.namespace
        )
        return sorted(items, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))

    def dependencies_of(self, app: KubeObject) -> list[dict[str, Any]]:
        """``spec.dependsOn`` of ``app``, each with its Ready condition as it is now:
        ``{"name": "ns/name", "ready": "True|False|Unknown|missing", "reason", "message"}``."""
        found = []
        for dep in (app.get("spec") or {}).get("dependsOn") or []:
            if not isinstance(dep, dict) or not dep.get("name"):
                continue
            if not is_application_entry(dep):
                found.append(self._object_dependency(dep, app["metadata"]["namespace"]))
                continue
            namespace = str(dep.get("namespace") or app["metadata"]["namespace"])
            ref = ObjectRef(GROUP, APPLICATION_KIND, namespace, str(dep["name"]))
            live = self.kube.get(API_VERSION, ref)
            conditions = ((live or {}).get("status") or {}).get("conditions") or []
            ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
            found.append(
                {
                    "name": f"{namespace}/{dep['name']}",
                    "ready": "missing" if live is None else ready.get("status", "Unknown"),
                    "reason": ready.get("reason", ""),
                    "message": ready.get("message", ""),
                }
            )
        return found

    def _object_dependency(self, entry: dict[str, Any], namespace: str) -> dict[str, Any]:
        """An object entry of ``dependsOn``, judged as the operator judges it (but read
        with the rights of whoever runs the command)."""
        try:
            (dep,) = parse_object_dependencies([entry], namespace)
            group = dep.api_version.rpartition("/")[0]
            live = self.kube.get(
                dep.api_version, ObjectRef(group, dep.kind, dep.namespace, dep.name)
            )
            blocker = object_blocker(live, dep, compile_ready_exprs([dep]))
        except GitOpsError as exc:
            name = f"{entry.get('kind')} {entry.get('namespace') or namespace}/{entry['name']}"
            return {"name": name, "ready": "Unknown", "reason": str(exc), "message": str(exc)}
        scope = f"{dep.namespace}/" if dep.namespace else ""
        return {
            "name": f"{dep.kind} {scope}{dep.name}",
            "ready": "missing" if live is None else "False" if blocker else "True",
            "reason": blocker or "",
            "message": blocker or "",
        }

    def repository_of(self, app: KubeObject) -> KubeObject | None:
        """The GitRepository ``app`` takes its revisions from, if it exists."""
        source = (app.get("spec") or {}).get("sourceRef") or {}
        namespace = source.get("namespace") or app["metadata"]["namespace"]
        ref = ObjectRef(GROUP, REPOSITORY_KIND, namespace, str(source.get("name", "")))
        return self.kube.get(API_VERSION, ref) if ref.name else None

    def patch_application(self, name: str, body: dict[str, Any]) -> KubeObject:
        return self.kube.patch(API_VERSION, self.application_ref(name), body)

    def annotate(self, name: str, annotations: dict[str, str]) -> KubeObject:
        return self.patch_application(name, {"metadata": {"annotations": annotations}})

    def wait_for(
        self, name: str, done: Callable[[KubeObject], bool], *, timeout: float, what: str
    ) -> KubeObject:
        """Poll the Application until ``done(app)``; ``WaitTimeoutError`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            app = self.application(name)
            if done(app):
                return app
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"timed out after {timeout:.0f}s waiting for {what}"
                    " (is the operator running? see `gitops-operator status"
                    f" {name} -n {self.namespace}`)"
                )
            time.sleep(POLL_INTERVAL)


def default_namespace(kubeconfig: str | None) -> str:
    """The current context's namespace (``--kubeconfig``, else ``$KUBECONFIG``, else
    ``~/.kube/config``); in a Pod, its own namespace; else ``default``."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            return _SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
        except OSError:
            return "default"
    files = [kubeconfig] if kubeconfig else os.environ.get("KUBECONFIG", "").split(os.pathsep)
    return _context_namespace([f for f in files if f] or ["~/.kube/config"]) or "default"


def _context_namespace(files: list[str]) -> str | None:
    """Merged like kubectl: the first file to set the current context or a context wins."""
    current: str | None = None
    contexts: dict[str, Any] = {}
    for name in files:
        try:
            config = yaml.safe_load(Path(name).expanduser().read_text())
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(config, dict):
            continue
        current = current or config.get("current-context") or None
        for entry in config.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") not in contexts:
                contexts[str(entry.get("name"))] = entry.get("context")
    context = contexts.get(current or "")
    namespace = context.get("namespace") if isinstance(context, dict) else None
    return str(namespace) if namespace else None


def now_stamp() -> str:
    """A fresh value for a request annotation: RFC 3339 with microseconds, so two requests
    in the same second still differ."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
