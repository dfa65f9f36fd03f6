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
import threading
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
    """Reads and writes the snapshot Secrets, remembering what each holds.

    The operator is the Secrets' only writer, so what it last wrote or read is what they
    hold: steady-state drift checks read no Secret. The memory is keyed by the
    Application's uid, so a recreated Application starts afresh.
    """

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self._known: dict[tuple[str, str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def _ref(self, namespace: str, app: str) -> ObjectRef:
        return ObjectRef("", "Secret", namespace, f"{SNAPSHOT_PREFIX}{app}")

    def load(self, application: dict[str, Any], sha: str) -> list[Manifest] | None:
        data = self._current(application).get(sha)
        if not data:
            return None
        return decode(base64.b64decode(data).decode())

    def retain(self, application: dict[str, Any], keep: set[str]) -> None:
        """Drop the snapshots of every SHA not in ``keep``."""
        current = self._current(application)
        if set(current) - keep:
            self._write(application, {k: v for k, v in current.items() if k in keep})

    def save(
        self, application: dict[str, Any], sha: str, manifests: list[Manifest], keep: set[str]
    ) -> bool:
        """Store ``manifests`` under ``sha``, keeping only the SHAs in ``keep``.

        Returns False (and keeps the older snapshots) when the revision is too large."""
        meta = application["metadata"]
        encoded = encode(manifests)
        if len(encoded) > MAX_SNAPSHOT_BYTES:
            log.warning(
                "revision %s of %s is too large to snapshot (%d bytes)",
                sha,
                self._ref(meta["namespace"], meta["name"]),
                len(encoded),
            )
            return False
        current = self._current(application)
        data = {k: v for k, v in current.items() if k in keep}
        data[sha] = base64.b64encode(encoded.encode()).decode()
        if data == current:
            return True
        return self._write(application, data)

    def forget(self, namespace: str, app: str) -> None:
        with self._lock:
            for key in [k for k in self._known if k[:2] == (namespace, app)]:
                del self._known[key]

    def _key(self, application: dict[str, Any]) -> tuple[str, str, str]:
        meta = application["metadata"]
        return (str(meta["namespace"]), str(meta["name"]), str(meta.get("uid", "")))

    def _current(self, application: dict[str, Any]) -> dict[str, str]:
        """The Secret's data: remembered, else read."""
        key = self._key(application)
        with self._lock:
            known = self._known.get(key)
        if known is not None:
            return dict(known)
        secret = self.kube.get("v1", self._ref(key[0], key[1]))
        data = dict((secret or {}).get("data") or {})
        with self._lock:
            self._known[key] = data
        return dict(data)

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
            with self._lock:
                self._known.pop(self._key(application), None)
            return False
        with self._lock:
            self._known[self._key(application)] = dict(data)
        return True
