"""Rendered manifests of applied revisions, kept in a Secret beside the Application.

Rollback and drift checks use them, so neither needs Git or a renderer: a Git outage
cannot block a rollback. The Secret is owned by the Application (garbage-collected with
it) and keeps at most the revisions still needed (last applied and last good).
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
from typing import Any

from ..api import API_VERSION, APPLICATION_KIND, SNAPSHOT_PREFIX
from ..errors import ApiError
from ..kube import KubeClient
from ..objects import Manifest, ObjectRef

log = logging.getLogger(__name__)

MAX_SNAPSHOT_BYTES = 900 * 1024  # a Secret holds at most 1 MiB


def encode(manifests: list[Manifest]) -> str:
    payload = json.dumps(
        [{"obj": m.obj, "source": m.source} for m in manifests],
        separators=(",", ":"),
        sort_keys=True,
    )
    return base64.b64encode(gzip.compress(payload.encode(), mtime=0)).decode()


def decode(data: str) -> list[Manifest]:
    items = json.loads(gzip.decompress(base64.b64decode(data)))
    return [Manifest(item["obj"], item["source"]) for item in items]


class SnapshotStore:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    def _ref(self, namespace: str, app: str) -> ObjectRef:
        return ObjectRef("", "Secret", namespace, f"{SNAPSHOT_PREFIX}{app}")

    def load(self, namespace: str, app: str, sha: str) -> list[Manifest] | None:
        secret = self.kube.get("v1", self._ref(namespace, app))
        data = ((secret or {}).get("data") or {}).get(sha)
        if not data:
            return None
        return decode(base64.b64decode(data).decode())

    def retain(self, application: dict[str, Any], keep: set[str]) -> None:
        """Drop the snapshots of every SHA not in ``keep``."""
        meta = application["metadata"]
        ref = self._ref(meta["namespace"], meta["name"])
        current = (self.kube.get("v1", ref) or {}).get("data") or {}
        if set(current) - keep:
            self._write(application, {k: v for k, v in current.items() if k in keep})

    def save(
        self, application: dict[str, Any], sha: str, manifests: list[Manifest], keep: set[str]
    ) -> bool:
        """Store ``manifests`` under ``sha``, keeping only the SHAs in ``keep``.

        Returns False (and keeps the older snapshots) when the revision is too large."""
        meta = application["metadata"]
        ref = self._ref(meta["namespace"], meta["name"])
        encoded = encode(manifests)
        if len(encoded) > MAX_SNAPSHOT_BYTES:
            log.warning(
                "revision %s of %s is too large to snapshot (%d bytes)", sha, ref, len(encoded)
            )
            return False
        current = (self.kube.get("v1", ref) or {}).get("data") or {}
        data = {k: v for k, v in current.items() if k in keep}
        data[sha] = base64.b64encode(encoded.encode()).decode()
        return self._write(application, data)

    def _write(self, application: dict[str, Any], data: dict[str, str]) -> bool:
        meta = application["metadata"]
        ref = self._ref(meta["namespace"], meta["name"])
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "gitops-operator.dev/snapshot",
            "metadata": {
                "name": ref.name,
                "namespace": ref.namespace,
                "labels": {"app.kubernetes.io/managed-by": "gitops-operator"},
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": APPLICATION_KIND,
                        "name": meta["name"],
                        "uid": meta["uid"],
                    }
                ],
            },
            "data": data,
        }
        try:
            self.kube.apply(body)
        except ApiError as exc:
            log.warning("could not store the snapshots of %s: %s", ref, exc)
            return False
        return True
