"""``KubeClient``: the only module that talks to the Kubernetes API server.

Every API failure leaves here as ``errors.ApiError`` (or ``NotFoundError``) with the
server's own message, so callers never see the client library's exception types.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import (
    DynamicApiError,
    ResourceNotFoundError,
    ResourceNotUniqueError,
)
from kubernetes.dynamic.resource import Resource

from .errors import ApiError, NotFoundError
from .objects import KubeObject, ObjectRef, ref_of

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read: no API call may hang a reconcile


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """In-cluster config inside a Pod; otherwise ``kubeconfig`` or ``$KUBECONFIG``."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
        return client.ApiClient()
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    return client.ApiClient(configuration=cfg)


class KubeClient:
    """Get, list, server-side apply (real or dry-run), delete and status patches."""

    def __init__(self, api_client: client.ApiClient, *, field_manager: str) -> None:
        self.field_manager = field_manager
        self._api = api_client
        cache = os.path.join(tempfile.gettempdir(), f"gitops-discovery-{os.getpid()}.json")
        with _api_errors("API discovery"):
            self._dyn = DynamicClient(api_client, cache_file=cache)
        self._discovery_lock = threading.Lock()

    def impersonating(self, username: str) -> KubeClient:
        """A client that acts as ``username`` (e.g. ``system:serviceaccount:ns:name``; the
        API server adds a service account's groups itself)."""
        api = client.ApiClient(configuration=self._api.configuration)
        api.set_default_header("Impersonate-User", username)
        return KubeClient(api, field_manager=self.field_manager)

    # -- discovery ----------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource:
        """The API resource serving ``kind``; ``NotFoundError`` if the server has none."""
        try:
            with self._discovery_lock, _api_errors("API discovery"):
                resource: Resource = self._dyn.resources.get(api_version=api_version, kind=kind)
                return resource
        except (ResourceNotFoundError, ResourceNotUniqueError) as exc:
            raise NotFoundError(
                f'no API resource serves kind "{kind}" in version "{api_version}"'
                " (is its CustomResourceDefinition installed?)",
                reason="UnknownKind",
            ) from exc

    def is_namespaced(self, api_version: str, kind: str) -> bool:
        return bool(self.resource(api_version, kind).namespaced)

    def refresh_discovery(self) -> None:
        """Forget cached API groups, after CRDs were created or changed."""
        with self._discovery_lock:
            self._dyn.resources.invalidate_cache()

    # -- objects ------------------------------------------------------------------------

    def apply(self, obj: KubeObject, *, dry_run: bool = False) -> KubeObject:
        """Server-side apply ``obj`` under our field manager; conflicts are forced."""
        ref = ref_of(obj)
        resource = self.resource(str(obj["apiVersion"]), ref.kind)
        with _api_errors(f"apply {ref}"):
            result = self._dyn.server_side_apply(
                resource,
                body=obj,
                name=ref.name,
                namespace=ref.namespace or None,
                field_manager=self.field_manager,
                force_conflicts=True,
                dry_run="All" if dry_run else None,
                _request_timeout=REQUEST_TIMEOUT,
            )
        return dict(result.to_dict())

    def get(self, api_version: str, ref: ObjectRef) -> KubeObject | None:
        """The live object, or None when it does not exist."""
        resource = self.resource(api_version, ref.kind)
        try:
            with _api_errors(f"get {ref}"):
                result = self._dyn.get(
                    resource,
                    name=ref.name,
                    namespace=ref.namespace or None,
                    _request_timeout=REQUEST_TIMEOUT,
                )
        except NotFoundError:
            return None
        return dict(result.to_dict())

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[KubeObject]:
        resource = self.resource(api_version, kind)
        with _api_errors(f"list {kind}"):
            result = self._dyn.get(resource, namespace=namespace, _request_timeout=REQUEST_TIMEOUT)
        return [dict(item) for item in result.to_dict().get("items", [])]

    def delete(self, api_version: str, ref: ObjectRef) -> bool:
        """Delete with background propagation; False if it was already gone."""
        resource = self.resource(api_version, ref.kind)
        try:
            with _api_errors(f"delete {ref}"):
                self._dyn.delete(
                    resource,
                    name=ref.name,
                    namespace=ref.namespace or None,
                    propagation_policy="Background",
                    _request_timeout=REQUEST_TIMEOUT,
                )
        except NotFoundError:
            return False
        return True

    def patch(self, api_version: str, ref: ObjectRef, body: dict[str, Any]) -> KubeObject:
        """JSON-merge-patch an object (annotations, a spec flag): for the CLI's nudges."""
        resource = self.resource(api_version, ref.kind)
        with _api_errors(f"patch {ref}"):
            result = self._dyn.patch(
                resource,
                body=body,
                name=ref.name,
                namespace=ref.namespace or None,
                content_type="application/merge-patch+json",
                _request_timeout=REQUEST_TIMEOUT,
            )
        return dict(result.to_dict())

    def patch_status(self, api_version: str, ref: ObjectRef, status: dict[str, Any]) -> None:
        """JSON-merge-patch the status subresource of a custom resource."""
        resource = self.resource(api_version, ref.kind).subresources["status"]
        with _api_errors(f"update status of {ref}"):
            self._dyn.patch(
                resource,
                body={"status": status},
                name=ref.name,
                namespace=ref.namespace or None,
                content_type="application/merge-patch+json",
                _request_timeout=REQUEST_TIMEOUT,
            )

    def server_version(self) -> str:
        with _api_errors("get server version"):
            info = client.VersionApi(self._api).get_code(_request_timeout=REQUEST_TIMEOUT)
        return str(info.git_version)


@contextmanager
def _api_errors(action: str) -> Iterator[None]:
    """Translate the client library's exceptions into ``errors.ApiError``."""
    try:
        yield
    except (ApiException, DynamicApiError) as exc:
        code = int(getattr(exc, "status", 0) or 0)
        message, reason = _status_message(getattr(exc, "body", None), str(exc))
        if code == 404:
            raise NotFoundError(f"{action}: {message}") from exc
        raise ApiError(f"{action}: {message}", code=code, api_reason=reason) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ApiError(
            f"{action}: API server unreachable: {exc}", code=0, api_reason="Unreachable"
        ) from exc


def _status_message(body: Any, fallback: str) -> tuple[str, str]:
    """The ``message`` and ``reason`` of a Kubernetes Status body."""
    try:
        status = json.loads(body) if isinstance(body, str | bytes) else None
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"]), str(status.get("reason", ""))
    return fallback.strip().splitlines()[0] if fallback.strip() else "unknown error", ""


def run_leader_election(
    *,
    name: str,
    namespace: str,
    identity: str,
    lease_duration: int,
    renew_deadline: int,
    retry_period: int,
    on_started: Callable[[], None],
    on_stopped: Callable[[], None],
    kubeconfig: str | None = None,
) -> None:
    """Block until this process holds the ``coordination.k8s.io`` Lease ``name``, call
    ``on_started`` (in a thread), renew it, and call ``on_stopped`` once it is lost."""
    from kubernetes.leaderelection import electionconfig, leaderelection
    from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
    else:
        config.load_kube_config(config_file=kubeconfig)
    lock = LeaseLock(name, namespace, identity)
    election = electionconfig.Config(
        lock, lease_duration, renew_deadline, retry_period, on_started, on_stopped
    )
    leaderelection.LeaderElection(election).run()
