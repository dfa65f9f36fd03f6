"""``KubeClient``: the only module that talks to the Kubernetes API server.

Every API failure leaves here as ``errors.ApiError`` (or ``NotFoundError``) with the
server's own message, so callers never see the client library's exception types.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Self
from urllib.parse import quote, urlencode

import urllib3
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import (
    ResourceNotFoundError,
    ResourceNotUniqueError,
)
from kubernetes.dynamic.resource import Resource

from .errors import ApiError, NotFoundError
from .kube_errors import HttpError as _HttpError
from .kube_errors import api_errors as _api_errors
from .kube_masking import mask_secret_values as mask_secret_values
from .objects import KubeObject, ObjectRef, ref_of

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read: no API call may hang a reconcile
CAPABILITIES_TTL = 300.0
"""Seconds the server's version and API versions are remembered (CRD changes refresh
them sooner, through ``refresh_discovery``)."""
WRITE_FENCE: ContextVar[Callable[[], None] | None] = ContextVar("write_fence", default=None)
"""Called before every write (not dry-run) this context sends, through any client: raises
``FencedError`` to refuse it. Set for the resource a task reconciles (sharding); threads
given work with ``contextvars.copy_context()`` carry it."""
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def load_api_client(
    kubeconfig: str | None = None, *, pool_size: int = 64, user_agent: str | None = None
) -> client.ApiClient:
    """In-cluster config inside a Pod; otherwise ``kubeconfig`` or ``$KUBECONFIG``.

    ``pool_size`` keeps-alive that many connections: it must cover every thread that
    talks to the API server, or each extra request pays a new TLS handshake."""
    cfg = client.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=cfg)
    else:
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    cfg.connection_pool_maxsize = pool_size
    api = client.ApiClient(configuration=cfg)
    if user_agent:
        api.user_agent = user_agent
    return api


class KubeClient:
    """Get, list, server-side apply (real or dry-run), delete and status patches.

    Discovery goes through the client library (cached); every object request is sent as
    raw JSON on the library's connection pool and parsed with ``json.loads``: the
    library's model objects cost more CPU than the request itself.
    """

    def __init__(self, api_client: client.ApiClient, *, field_manager: str) -> None:
        self.field_manager = field_manager
        self._api = api_client
        host = hashlib.sha256(api_client.configuration.host.encode()).hexdigest()[:12]
        cache = os.path.join(tempfile.gettempdir(), f"gitops-discovery-{os.getpid()}-{host}.json")
        with _api_errors("API discovery"):
            self._dyn = DynamicClient(api_client, cache_file=cache)
        self._discovery_lock = threading.Lock()
        self._resources: dict[tuple[str, str], Resource] = {}
        self._capabilities: tuple[float, str, tuple[str, ...]] | None = None
        self._impersonation: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_config(
        cls, kubeconfig: dict[str, Any], *, field_manager: str, pool: int
    ) -> KubeClient:
        """A client of the cluster a kubeconfig (as a mapping, already checked) names."""
        cfg = client.Configuration()
        config.load_kube_config_from_dict(
            kubeconfig, client_configuration=cfg, persist_config=False
        )
        cfg.connection_pool_maxsize = pool
        return cls(client.ApiClient(configuration=cfg), field_manager=field_manager)

    def impersonating(self, username: str) -> KubeClient:
        """A client that acts as ``username`` (e.g. ``system:serviceaccount:ns:name``; the
        API server adds a service account's groups itself)."""
        api = client.ApiClient(configuration=self._api.configuration)
        api.user_agent = self._api.user_agent
        api.set_default_header("Impersonate-User", username)
        return KubeClient(api, field_manager=self.field_manager)

    def acting_as(
        self, user: str, groups: Sequence[str] = (), extra: Mapping[str, Sequence[str]] = {}
    ) -> Self:
        """This client (same connections, own discovery: it names kinds, never objects)
        with every object request made as exactly ``user``, ``groups`` and ``extra``."""
        view = copy.copy(self)
        headers = [("Impersonate-User", user)]
        headers += [("Impersonate-Group", group) for group in groups]
        headers += [
            (f"Impersonate-Extra-{quote(key, safe='')}", value)
            for key, values in extra.items()
            for value in values
        ]
        view._impersonation = tuple(headers)
        return view

    # -- discovery ----------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource:
        """The API resource serving ``kind``; ``NotFoundError`` if the server has none."""
        key = (api_version, kind)
        found = self._resources.get(key)
        if found is not None:
            return found
        try:
            with self._discovery_lock, _api_errors("API discovery"):
                resource: Resource = self._dyn.resources.get(api_version=api_version, kind=kind)
        except (ResourceNotFoundError, ResourceNotUniqueError) as exc:
            raise NotFoundError(
                f'no API resource serves kind "{kind}" in version "{api_version}"'
                " (is its CustomResourceDefinition installed?)",
                reason="UnknownKind",
            ) from exc
        self._resources[key] = resource
        return resource

    def is_namespaced(self, api_version: str, kind: str) -> bool:
        return bool(self.resource(api_version, kind).namespaced)

    def refresh_discovery(self) -> None:
        """Forget cached API groups, after CRDs were created or changed."""
        with self._discovery_lock:
            self._resources.clear()
            self._dyn.resources.invalidate_cache()
            self._capabilities = None

    # -- objects ------------------------------------------------------------------------

    def apply(self, obj: KubeObject, *, dry_run: bool = False) -> KubeObject:
        """Server-side apply ``obj`` under our field manager; conflicts are forced."""
        ref = ref_of(obj)
        path = self._path(str(obj["apiVersion"]), ref)
        query = {"fieldManager": self.field_manager, "force": "true"}
        if dry_run:
            query["dryRun"] = "All"
        with _api_errors(f"apply {ref}", secret=obj):
            return self._send("PATCH", path, query, _dump(obj), "application/apply-patch+yaml")

    def create(self, obj: KubeObject) -> KubeObject:
        """Create ``obj``; ``ApiError`` with code 409 if it already exists."""
        ref = ref_of(obj)
        resource = self.resource(str(obj["apiVersion"]), ref.kind)
        path = str(resource.path(namespace=ref.namespace or None))
        with _api_errors(f"create {ref}", secret=obj):
            return self._send(
                "POST", path, {"fieldManager": self.field_manager}, _dump(obj), "application/json"
            )

    def get(self, api_version: str, ref: ObjectRef) -> KubeObject | None:
        """The live object, or None when it does not exist."""
        path = self._path(api_version, ref)
        try:
            with _api_errors(f"get {ref}"):
                return self._send("GET", path)
        except NotFoundError:
            return None

    def watch_object(self, api_version: str, ref: ObjectRef, timeout: int) -> Iterator[str]:
        """The event types of one named object (first its current state, as ADDED), for
        up to ``timeout`` seconds; ERROR when the server ends the watch with one."""
        if self._impersonation:  # the dynamic client would send it as this process
            raise TypeError("watch_object does not act as an acting_as client's person")
        resource = self.resource(api_version, ref.kind)
        namespace = ref.namespace if resource.namespaced else None
        with _api_errors(f"watch {ref}"):
            for event in self._dyn.watch(resource, namespace, ref.name, timeout=timeout):
                yield str(event["type"])

    def watch_metadata(
        self, version: str, kind: str, since: str, timeout: int, *, full: bool = False
    ) -> Iterator[Any]:
        """Events of every object of ``kind`` (all namespaces) from resourceVersion
        ``since`` (empty: from now, after a one-item list), as PartialObjectMetadata: no
        spec, no status, nothing kept; ``full``: the whole objects. Bookmarks keep the
        resourceVersion fresh."""
        path = str(self.resource(version, kind).path())
        accept = "application/json" if full else _METADATA
        with _api_errors(f"watch {kind}"):
            if not since:
                found = self._send(
                    "GET", path, {"limit": "1"}, accept=accept if full else f"{accept}List"
                )
                since = str(found["metadata"]["resourceVersion"])
                yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": since}}}
            query = {"watch": "1", "resourceVersion": since, "allowWatchBookmarks": "true"}
            query["timeoutSeconds"] = str(timeout)
            yield from self._stream(path, query, accept)

    def list_with_version(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> tuple[list[KubeObject], str]:
        """``list`` and the list's resourceVersion, to watch from."""
        with _api_errors(f"list {kind}"):
            found = self._send("GET", self._list_path(api_version, kind, namespace))
        items = [dict(item) for item in found.get("items") or []]
        for item in items:  # a list's items carry no type of their own
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items, str((found.get("metadata") or {}).get("resourceVersion", ""))

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[KubeObject]:
        """Every object of ``kind`` (in ``namespace``, if the kind is namespaced)."""
        return self.list_with_version(api_version, kind, namespace)[0]

    def delete(self, api_version: str, ref: ObjectRef) -> bool:
        """Delete with background propagation; False if it was already gone."""
        path = self._path(api_version, ref)
        body = _dump(
            {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        )
        try:
            with _api_errors(f"delete {ref}"):
                self._send("DELETE", path, body=body, content_type="application/json")
        except NotFoundError:
            return False
        return True

    def patch(
        self,
        api_version: str,
        ref: ObjectRef,
        body: dict[str, Any],
        *,
        field_manager: str | None = None,
    ) -> KubeObject:
        """JSON-merge-patch an object (annotations, a spec flag, finalizers); the
        managedFields name ``field_manager`` (default: the User-Agent's program)."""
        path = self._path(api_version, ref)
        query = {"fieldManager": field_manager} if field_manager else None
        with _api_errors(f"patch {ref}"):
            return self._send(
                "PATCH", path, query, _dump(body), content_type="application/merge-patch+json"
            )

    def patch_status(self, api_version: str, ref: ObjectRef, status: dict[str, Any]) -> str:
        """JSON-merge-patch the status subresource of a custom resource; returns the
        object's new resourceVersion."""
        path = self._path(api_version, ref) + "/status"
        with _api_errors(f"update status of {ref}"):
            written = self._send(
                "PATCH",
                path,
                body=_dump({"status": status}),
                content_type="application/merge-patch+json",
            )
        return str((written.get("metadata") or {}).get("resourceVersion") or "")

    def server_version(self) -> str:
        with _api_errors("get server version"):
            info = client.VersionApi(self._api).get_code(_request_timeout=REQUEST_TIMEOUT)
        return str(info.git_version)

    def capabilities(self) -> tuple[str, tuple[str, ...]]:
        """The server's version and every API version it serves, as ``group/version`` and
        ``group/version/Kind`` (``v1``, ``v1/Pod``, ``apps/v1/Deployment``), remembered
        for ``CAPABILITIES_TTL``. A group version that fails discovery (an aggregated API
        that is down) still counts by name."""
        cached = self._capabilities
        if cached is not None and time.monotonic() - cached[0] < CAPABILITIES_TTL:
            return cached[1], cached[2]
        version = self.server_version()
        with _api_errors("API discovery"):
            versions = list(self._send("GET", "/api").get("versions") or [])
            groups = self._send("GET", "/apis").get("groups") or []
        versions += [v["groupVersion"] for g in groups for v in g.get("versions") or []]
        found: set[str] = set()
        for group_version in versions:
            found.add(group_version)
            path = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
            try:
                with _api_errors(f"discover {group_version}"):
                    resources = self._send("GET", path).get("resources") or []
            except (ApiError, NotFoundError):
                continue
            found.update(
                f"{group_version}/{r['kind']}" for r in resources if "/" not in r.get("name", "/")
            )
        self._capabilities = (time.monotonic(), version, tuple(sorted(found)))
        return version, self._capabilities[2]

    # -- transport ----------------------------------------------------------------------

    def _list_path(self, api_version: str, kind: str, namespace: str | None) -> str:
        return str(self.resource(api_version, kind).path(namespace=namespace))

    def _path(self, api_version: str, ref: ObjectRef) -> str:
        resource = self.resource(api_version, ref.kind)
        return str(resource.path(name=ref.name, namespace=ref.namespace or None))

    def _headers(self, accept: str) -> urllib3.HTTPHeaderDict:  # Impersonate-Group repeats
        headers = urllib3.HTTPHeaderDict({"Accept": accept, **self._api.default_headers})
        for name, value in self._impersonation:
            headers.add(name, value)
        return headers

    def _send(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        accept: str = "application/json",
    ) -> KubeObject:
        """One request; the parsed JSON answer, or ``_HttpError`` for a status >= 400.
        A write goes only past the context's fence (``WRITE_FENCE``)."""
        fence = WRITE_FENCE.get()
        if fence is not None and method in _WRITES and "dryRun" not in (query or {}):
            fence()
        headers = self._headers(accept)
        if content_type:
            headers["Content-Type"] = content_type
        self._api.update_params_for_auth(headers, [], ["BearerToken"], path, method, None)
        url = self._api.configuration.host + path
        if query:
            url += "?" + urlencode(query)
        response = self._api.rest_client.pool_manager.request(
            method, url, body=body, headers=headers, timeout=_TIMEOUT, preload_content=True
        )
        if response.status >= 400:
            raise _HttpError(response.status, response.data)
        answer: KubeObject = json.loads(response.data) if response.data else {}
        return answer

    def _stream(self, path: str, query: dict[str, str], accept: str) -> Iterator[Any]:
        """The JSON lines of a watch, one parsed event at a time."""
        headers = self._headers(accept)
        self._api.update_params_for_auth(headers, [], ["BearerToken"], path, "GET", None)
        url = f"{self._api.configuration.host}{path}?{urlencode(query)}"
        read = int(query["timeoutSeconds"]) + 30  # the server ends it first
        timeout = urllib3.Timeout(connect=REQUEST_TIMEOUT[0], read=read)
        response = self._api.rest_client.pool_manager.request(
            "GET", url, headers=headers, timeout=timeout, preload_content=False
        )
        try:
            if response.status >= 400:
                raise _HttpError(response.status, response.read())
            pending = b""
            for chunk in response.stream(64 * 1024):
                *lines, pending = (pending + chunk).split(b"\n")
                yield from (json.loads(line) for line in lines if line.strip())
        finally:  # a watch left early must not go back to the pool half read
            response.close()
            response.release_conn()


_METADATA = "application/json;g=meta.k8s.io;v=v1;as=PartialObjectMetadata"
_TIMEOUT = urllib3.Timeout(connect=REQUEST_TIMEOUT[0], read=REQUEST_TIMEOUT[1])


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
