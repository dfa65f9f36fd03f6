"""Known in sync: which objects need no dry-run because nothing changed since the last.

After an object was applied, or its dry-run showed no change, the manager remembers the
desired body's digest with the live ``resourceVersion``. While both are unchanged,
applying that body again cannot change the object (any write to it, by anyone, moves its
resourceVersion), so planning and drift checks skip its dry-run. The memory is per
process: a restarted operator verifies everything once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field

from ..api import IgnoreRule
from ..diff import ignores_for
from ..objects import KubeObject, Manifest, ObjectRef


@dataclass(slots=True)
class KnownInSync:
    _entries: dict[ObjectRef, tuple[str, str]] = field(default_factory=dict)
    """ref -> (digest of the desired body, live resourceVersion) known to match."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def holds(self, ref: ObjectRef, digest: str, live: KubeObject | None) -> bool:
        """Whether applying the body of ``digest`` to ``live`` is known to change nothing."""
        return live is not None and self._entries.get(ref) == (digest, version_of(live))

    def trusts(self, ref: ObjectRef, obj: KubeObject) -> bool:
        """Whether ``obj`` has the resourceVersion last applied or verified for ``ref``."""
        entry = self._entries.get(ref)
        return entry is not None and entry[1] == version_of(obj)

    def remember(self, ref: ObjectRef, digest: str, live: KubeObject) -> None:
        with self._lock:
            self._entries[ref] = (digest, version_of(live))

    def forget(self, ref: ObjectRef) -> None:
        with self._lock:
            self._entries.pop(ref, None)


def digest(manifest: Manifest, ignore: tuple[IgnoreRule, ...]) -> str:
    """What the applied body depends on besides the live object: the manifest and the
    ignore rules that match it."""
    text = json.dumps(
        [manifest.obj, repr(ignores_for(ignore, manifest.ref))], sort_keys=True, default=str
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def version_of(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))
