"""``UiKubeClient``: the reads of the web UI's pages that ``KubeClient`` does not make:
a watch of whole objects of a kind, and the server's Table of a kind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .kube import KubeClient
from .kube_errors import api_errors
from .objects import KubeObject

_TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


class UiKubeClient(KubeClient):
    """A ``KubeClient`` (``acting_as`` keeps the class) with the page's reads."""

    def watch(
        self, api_version: str, kind: str, namespace: str | None, since: str, timeout: int
    ) -> Iterator[Any]:
        """Watch events (type and whole object) of ``kind`` (in ``namespace``, or all)
        from resourceVersion ``since``, for up to ``timeout`` seconds."""
        path = self._list_path(api_version, kind, namespace)
        query = {"watch": "1", "resourceVersion": since, "allowWatchBookmarks": "true"}
        query["timeoutSeconds"] = str(timeout)
        with api_errors(f"watch {kind}"):
            yield from self._stream(path, query, "application/json")

    def list_table(self, api_version: str, kind: str, namespace: str | None) -> KubeObject:
        """The server's Table of ``kind`` (its printer columns and each object's metadata,
        no spec or status): what a page of many objects needs, a fraction of the bytes."""
        path = self._list_path(api_version, kind, namespace)
        with api_errors(f"list {kind}"):
            return self._send("GET", path, {"includeObject": "Metadata"}, accept=_TABLE)
