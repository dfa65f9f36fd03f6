"""Compare the dry-run result of an object with its live state.

Both sides are normalised first: server-owned metadata and ``status`` are dropped, so a
difference is one a server-side apply would actually make. Secret values are masked.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from deepdiff import DeepDiff

from .objects import KubeObject

_SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "selfLink",
)
_SECRET_FIELDS = ("data", "stringData")
MASK = "***"


def normalize(obj: KubeObject) -> KubeObject:
    """A copy of ``obj`` without status and server-managed metadata."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not annotations:
        meta.pop("annotations", None)
    return out


def mask_secret(obj: KubeObject) -> KubeObject:
    """Replace every Secret value with a mask; other kinds are returned unchanged."""
    if obj.get("kind") != "Secret":
        return obj
    out = copy.deepcopy(obj)
    for key in _SECRET_FIELDS:
        if isinstance(out.get(key), dict):
            out[key] = {k: MASK for k in out[key]}
    return out


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    desired: Any
    live: Any


def field_changes(desired: KubeObject, live: KubeObject) -> list[FieldChange]:
    """Field-level differences between normalised objects, Secret values masked."""
    left, right = mask_secret(normalize(live)), mask_secret(normalize(desired))
    diff = DeepDiff(left, right, ignore_order=False, view="tree", verbose_level=2)
    changes: list[FieldChange] = []
    for items in diff.values():
        for item in items:
            live_value = None if _missing(item.t1) else item.t1
            desired_value = None if _missing(item.t2) else item.t2
            changes.append(
                FieldChange(_json_path(item.path(output_format="list")), desired_value, live_value)
            )
    return sorted(changes, key=lambda c: c.path)


def differs(desired: KubeObject, live: KubeObject) -> bool:
    """True when applying ``desired`` would change ``live``."""
    return normalize(desired) != normalize(live)


def _missing(value: Any) -> bool:
    return type(value).__name__ == "NotPresent"


def _json_path(parts: list[Any]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)
