"""What an Application owns, as recorded in ``status.inventory``.

The inventory is the only basis for pruning: an object not in it is never deleted. Each
entry keeps the apiVersion it was applied with, so it can be deleted after the manifest
that created it is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .objects import Manifest, ObjectRef

Inventory = dict[ObjectRef, str]
"""Owned object -> the apiVersion used to apply it."""


def from_status(status: Mapping[str, Any]) -> Inventory:
    entries = ((status.get("inventory") or {}).get("entries")) or []
    return {
        ObjectRef.from_id(e["id"]): str(e.get("v", ""))
        for e in entries
        if isinstance(e, dict) and e.get("id")
    }


def to_status(inventory: Mapping[ObjectRef, str]) -> dict[str, Any]:
    return {"entries": [{"id": ref.id, "v": inventory[ref]} for ref in sorted(inventory)]}


def of_manifests(manifests: list[Manifest]) -> Inventory:
    return {m.ref: m.api_version for m in manifests}


def union(old: Mapping[ObjectRef, str], new: Mapping[ObjectRef, str]) -> Inventory:
    """Everything the operator may own while a sync is in flight (new versions win)."""
    return {**old, **new}


def stale(old: Mapping[ObjectRef, str], new: Mapping[ObjectRef, str]) -> Inventory:
    """Objects the previous revision owned that the new render no longer contains."""
    return {ref: version for ref, version in old.items() if ref not in new}
