"""Rendered manifests of applied revisions, kept in a Secret beside the Application.

Rollback and drift checks use them, so neither needs Git or a renderer: a Git outage
cannot block a rollback. The Secret is owned by the Application (garbage-collected with
it) and keeps at most the revisions still needed (last applied and last good).

What a snapshot holds is applied with the operator's identity, and anyone who may write
Secrets in the Application's namespace may write this one. So every snapshot carries an
HMAC-SHA256 (``<sha>.mac``) over the Application's namespace, name and uid, the SHA and
the payload, keyed by a random key kept in the Secret ``gitops-operator-snapshot-key`` of
the operator's own namespace (``config.operator_namespace``), created on first use. A
snapshot without a valid MAC is refused (``SnapshotRejected``) and never applied, and is
dropped at the next write (a rollback then renders the revision from Git).
Decompression stops at ``MAX_DECOMPRESSED_BYTES``. Even an authentic snapshot is checked
against the Application's rules as they are now (``check_rules``): objects stay in
``targetNamespace``, and an object outside the Application's own namespace (cluster-scoped
or elsewhere) must be one ``status.inventory`` records. One that is not
(``SnapshotOutsideRulesError``) is not applied; the revision is rendered from Git instead.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import hmac
import json
import logging
import secrets
import threading
import zlib
from collections.abc import Mapping
from typing import Any

from ..api import API_VERSION, APPLICATION_KIND, SNAPSHOT_PREFIX
from ..config import operator_namespace
from ..errors import ApiError, StalledError
from ..kube import KubeClient
from ..objects import Manifest, ObjectRef

log = logging.getLogger(__name__)

MAX_SNAPSHOT_BYTES = 900 * 1024  # a Secret holds at most 1 MiB
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
"""A snapshot that inflates beyond this is refused (a gzip bomb is small on the wire)."""
KEY_SECRET = "gitops-operator-snapshot-key"  # noqa: S105 (the Secret's name)
MAC_SUFFIX = ".mac"


class SnapshotRejectedError(StalledError):
    """A snapshot failed authentication or the Application's rules: it is not applied."""

    reason = "SnapshotRejected"


class SnapshotOutsideRulesError(SnapshotRejectedError):
    """An authentic snapshot holds an object the Application may not own now."""


def encode(manifests: list[Manifest]) -> str:
    payload = json.dumps(
        [{"obj": m.obj, "source": m.source} for m in manifests],
        separators=(",", ":"),
        sort_keys=True,
    )
    return base64.b64encode(gzip.compress(payload.encode(), mtime=0)).decode()


def decode(data: str) -> list[Manifest]:
    """The manifests of an encoded snapshot; ``SnapshotRejectedError`` if it is not one,
    or inflates beyond ``MAX_DECOMPRESSED_BYTES``."""
    try:
        inflater = zlib.decompressobj(wbits=31)  # gzip
        raw = inflater.decompress(base64.b64decode(data), MAX_DECOMPRESSED_BYTES)
        if inflater.unconsumed_tail:
            raise SnapshotRejectedError(
                f"snapshot inflates beyond {MAX_DECOMPRESSED_BYTES // 2**20} MiB"
            )
        items = json.loads(raw)
        return [Manifest(dict(item["obj"]), str(item["source"])) for item in items]
    except (binascii.Error, zlib.error, ValueError, KeyError, TypeError) as exc:
        raise SnapshotRejectedError(f"snapshot is not readable ({type(exc).__name__})") from exc


def mac(key: bytes, application: dict[str, Any], sha: str, encoded: str) -> str:
    """HMAC-SHA256 binding a snapshot to one Application (by uid) and one SHA."""
    meta = application["metadata"]
    message = "\0".join((str(meta["namespace"]), str(meta["name"]), str(meta.get("uid", "")), sha))
    return hmac.new(key, message.encode() + b"\0" + encoded.encode(), hashlib.sha256).hexdigest()


def check_rules(
    application: dict[str, Any], manifests: list[Manifest], inventory: Mapping[ObjectRef, str]
) -> None:
    """Loaded manifests obey the Application's ``targetNamespace`` as rendered ones do, and
    every object outside its own namespace is one its ``inventory`` already records: a
    snapshot brings back what the Application owned, never anything new elsewhere."""
    spec = application.get("spec") or {}
    target = spec.get("targetNamespace")
    home = target or application["metadata"]["namespace"]
    for manifest in manifests:
        ref = manifest.ref
        if target and ref.namespace and ref.namespace != target:
            raise SnapshotOutsideRulesError(
                f"snapshot holds {ref}, outside spec.targetNamespace {target!r}"
            )
        if ref.namespace != home and ref not in inventory:
            where = f"namespace {ref.namespace!r}" if ref.namespace else "cluster scope"
            raise SnapshotOutsideRulesError(
                f"snapshot holds {ref} ({where}), which status.inventory does not record"
            )


class SnapshotStore:
    """Reads and writes the snapshot Secrets, remembering what each holds.

    The operator is the Secrets' only writer, so what it last wrote or read is what they
    hold: steady-state drift checks read no Secret. The memory is keyed by the
    Application's uid, so a recreated Application starts afresh.
    """

    def __init__(self, kube: KubeClient, key_namespace: str | None = None) -> None:
        self.kube = kube
        self.key_namespace = key_namespace or operator_namespace()
        self._hmac_key: bytes | None = None
        self._known: dict[tuple[str, str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def _ref(self, namespace: str, app: str) -> ObjectRef:
        return ObjectRef("", "Secret", namespace, f"{SNAPSHOT_PREFIX}{app}")

    def load(
        self, application: dict[str, Any], sha: str, inventory: Mapping[ObjectRef, str]
    ) -> list[Manifest] | None:
        """The manifests kept for ``sha``, None if none are; ``SnapshotRejectedError`` if
        the snapshot is not the operator's own, ``SnapshotOutsideRulesError`` if it breaks
        the Application's rules (``check_rules``, with its ``inventory``)."""
        current = self._current(application)
        data = current.get(sha)
        if not data:
            return None
        encoded = self._authenticated(application, current, sha)
        if encoded is None:
            ref = self._ref(application["metadata"]["namespace"], application["metadata"]["name"])
            raise SnapshotRejectedError(
                f"snapshot of {sha[:12]} in {ref} failed authentication (it was not written by"
                " this operator, or was changed since); not applied. The next sync replaces"
                " it; until then rollback renders the revision from Git"
            )
        manifests = decode(encoded)
        check_rules(application, manifests, inventory)
        return manifests

    def retain(self, application: dict[str, Any], keep: set[str]) -> None:
        """Drop the snapshots of every SHA not in ``keep``."""
        current = self._current(application)
        kept = self._kept(application, current, keep)
        if kept != current:
            self._write(application, kept)

    def discard(self, application: dict[str, Any], sha: str) -> None:
        """Drop the snapshot of ``sha`` (and its MAC)."""
        current = self._current(application)
        kept = {k: v for k, v in current.items() if k not in (sha, sha + MAC_SUFFIX)}
        if kept != current:
            self._write(application, kept)

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
        # with nothing to keep, what the Secret holds is replaced whole: no need to read it
        current = self._current(application) if keep - {""} else self._known_data(application)
        data = self._kept(application, current, keep)
        data[sha] = base64.b64encode(encoded.encode()).decode()
        signature = mac(self.key(), application, sha, encoded)
        data[sha + MAC_SUFFIX] = base64.b64encode(signature.encode()).decode()
        if data == current:
            return True
        return self._write(application, data)

    def key(self) -> bytes:
        """The HMAC key: read from (or created in) the operator's namespace, once."""
        with self._lock:
            if self._hmac_key is not None:
                return self._hmac_key
        ref = ObjectRef("", "Secret", self.key_namespace, KEY_SECRET)
        secret = self.kube.get("v1", ref)
        if secret is None:
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {
                    "name": KEY_SECRET,
                    "namespace": self.key_namespace,
                    "labels": {"app.kubernetes.io/managed-by": "gitops-operator"},
                },
                "data": {"key": base64.b64encode(secrets.token_bytes(32)).decode()},
            }
            try:
                secret = self.kube.create(body)
            except ApiError as exc:
                if exc.code != 409:
                    raise
                secret = self.kube.get("v1", ref)  # another replica created it first
        raw = base64.b64decode(((secret or {}).get("data") or {}).get("key", ""))
        if len(raw) < 32:
            raise SnapshotRejectedError(f"Secret {ref} holds no usable snapshot key")
        with self._lock:
            self._hmac_key = raw
        return raw

    def _kept(
        self, application: dict[str, Any], current: dict[str, str], keep: set[str]
    ) -> dict[str, str]:
        """The entries (snapshot and MAC) of ``current`` for the SHAs in ``keep`` that pass
        authentication: a forged one is dropped at the next write, so that a rollback
        falls back to Git instead of failing on it."""
        kept: dict[str, str] = {}
        for sha in keep & set(current):
            if self._authenticated(application, current, sha) is None:
                log.warning("dropping the snapshot of %s: it failed authentication", sha)
                continue
            kept[sha], kept[sha + MAC_SUFFIX] = current[sha], current[sha + MAC_SUFFIX]
        return kept

    def _authenticated(
        self, application: dict[str, Any], current: dict[str, str], sha: str
    ) -> str | None:
        """The encoded snapshot of ``sha`` if its MAC is valid, else None."""
        try:
            encoded = base64.b64decode(current[sha]).decode()
            signature = base64.b64decode(current.get(sha + MAC_SUFFIX, "")).decode()
        except (KeyError, binascii.Error, UnicodeDecodeError):
            return None
        expected = mac(self.key(), application, sha, encoded)
        return encoded if hmac.compare_digest(signature, expected) else None

    def forget(self, namespace: str, app: str) -> None:
        with self._lock:
            for key in [k for k in self._known if k[:2] == (namespace, app)]:
                del self._known[key]

    def _key(self, application: dict[str, Any]) -> tuple[str, str, str]:
        meta = application["metadata"]
        return (str(meta["namespace"]), str(meta["name"]), str(meta.get("uid", "")))

    def _known_data(self, application: dict[str, Any]) -> dict[str, str]:
        """The Secret's data if remembered, else nothing (without reading it)."""
        with self._lock:
            return dict(self._known.get(self._key(application)) or {})

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
