"""Compare the dry-run result of an object with its live state.

Both sides are normalised first: server-owned metadata and ``status`` are dropped, so a
difference is one a server-side apply would actually make. Secret values are masked.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from deepdiff import DeepDiff

from .api import IgnoreRule
from .objects import KubeObject, ObjectRef

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
CHANGED_MASK = "*** (changed)"


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


FieldPath = tuple[str | int, ...]
"""Keys and list indices from the object's root to a field."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs: where (``field``), and its value on each side."""

    field: FieldPath
    desired: Any
    live: Any

    @property
    def path(self) -> str:
        """The field as people write it: ``spec.template.spec.containers[0].image``."""
        return format_field_path(self.field)

    @property
    def pointer(self) -> str:
        """The field as an RFC 6901 JSON pointer, the form ``ignoreDifferences`` takes."""
        return format_json_pointer(self.field)


def mask_secret_pair(before: KubeObject, after: KubeObject) -> tuple[KubeObject, KubeObject]:
    """Two versions of an object, Secret values masked so that a diff still shows which
    keys changed: a value equal on both sides is ``***`` on both, a changed one ``***``
    before and ``*** (changed)`` after. Never a value, nor a digest of one."""
    if before.get("kind") != "Secret" or after.get("kind") != "Secret":
        return mask_secret(before), mask_secret(after)
    left, right = mask_secret(before), mask_secret(after)
    for key in _SECRET_FIELDS:
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            right[key] = {
                k: MASK if k not in old or old[k] == new[k] else CHANGED_MASK for k in new
            }
    return left, right


def field_changes(desired: KubeObject, live: KubeObject) -> list[FieldChange]:
    """Field-level differences between normalised objects, Secret values masked."""
    return changes_between(mask_secret(normalize(desired)), mask_secret(normalize(live)))


def changes_between(desired: KubeObject, live: KubeObject) -> list[FieldChange]:
    """Field-level differences between two objects as they are (neither normalised nor
    masked), in field order."""
    left, right = live, desired
    diff = DeepDiff(left, right, ignore_order=False, view="tree", verbose_level=2)
    changes: list[FieldChange] = []
    for items in diff.values():
        for item in items:
            live_value = None if _missing(item.t1) else item.t1
            desired_value = None if _missing(item.t2) else item.t2
            field = tuple(_part(p) for p in item.path(output_format="list"))
            changes.append(FieldChange(field, desired_value, live_value))
    return sorted(changes, key=lambda c: _sort_key(c.field))


def differs(desired: KubeObject, live: KubeObject) -> bool:
    """True when applying ``desired`` would change ``live``."""
    return normalize(desired) != normalize(live)


def _missing(value: Any) -> bool:
    return type(value).__name__ == "NotPresent"


def _part(part: Any) -> str | int:
    return part if isinstance(part, int) and not isinstance(part, bool) else str(part)


def _sort_key(field: FieldPath) -> list[tuple[int, int, str]]:
    # Indices in numeric order (containers[2] before containers[10]), before keys.
    return [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in field]


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_field_path(field: FieldPath) -> str:
    """``metadata.labels["app.kubernetes.io/name"]``, ``spec.ports[0].port``: keys that are
    identifiers after a dot, other keys quoted in brackets, list indices in brackets."""
    text = ""
    for part in field:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text or "(the whole object)"


def format_json_pointer(field: FieldPath) -> str:
    """RFC 6901: ``/metadata/labels/app.kubernetes.io~1name``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in field)


# -- ignoreDifferences ---------------------------------------------------------------------


def parse_pointer(pointer: str) -> FieldPath:
    """RFC 6901 JSON pointer to a path; numeric segments become list indices."""
    if not pointer.startswith("/"):
        return ()
    parts: list[str | int] = []
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        parts.append(int(token) if token.isdigit() else token)
    return tuple(parts)


def manager_paths(live: KubeObject, managers: tuple[str, ...]) -> list[FieldPath]:
    """Leaf field paths that ``managers`` own in ``live.metadata.managedFields``.

    Fields inside list items (``k:`` and ``v:`` keys) are skipped: only named fields such
    as ``spec.replicas`` can be handed over safely."""
    paths: list[FieldPath] = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") in managers:
            _walk_fields(entry.get("fieldsV1") or {}, (), paths)
    return paths


def _walk_fields(fields: dict[str, Any], prefix: FieldPath, out: list[FieldPath]) -> None:
    children = {k: v for k, v in fields.items() if k != "."}
    if not children and prefix:
        out.append(prefix)
    for key, sub in children.items():
        if key.startswith("f:") and isinstance(sub, dict):
            _walk_fields(sub, (*prefix, key[2:]), out)


def _child(obj: Any, part: str | int) -> tuple[bool, Any]:
    """``obj[part]`` for a mapping key or an in-range list index."""
    if isinstance(obj, dict) and part in obj:
        return True, obj[part]
    if isinstance(obj, list) and isinstance(part, int) and 0 <= part < len(obj):
        return True, obj[part]
    return False, None


def _get(obj: Any, path: FieldPath) -> tuple[bool, Any]:
    for part in path:
        found, obj = _child(obj, part)
        if not found:
            return False, None
    return True, obj


def _set(obj: Any, path: FieldPath, value: Any) -> None:
    for part in path[:-1]:
        if isinstance(obj, dict):
            obj = obj.setdefault(part, {})
            continue
        found, obj = _child(obj, part)
        if not found:
            return
    last = path[-1]
    if isinstance(obj, dict):
        obj[last] = value
    elif isinstance(obj, list) and isinstance(last, int) and 0 <= last < len(obj):
        obj[last] = value


def _remove(obj: Any, path: FieldPath) -> None:
    found, parent = _get(obj, path[:-1])
    if found and isinstance(parent, dict):
        parent.pop(path[-1], None)


def adopt_ignored(
    desired: KubeObject,
    live: KubeObject | None,
    pointers: tuple[str, ...],
    managers: tuple[str, ...],
) -> KubeObject:
    """``desired`` with ignored fields taken from ``live``.

    A JSON-pointer field keeps its live value (or is left out if live has none); a field
    owned by one of ``managers`` is left out, so server-side apply hands it to them."""
    if not pointers and not managers:
        return desired
    out = copy.deepcopy(desired)
    for pointer in pointers:
        path = parse_pointer(pointer)
        if not path:
            continue
        found, value = _get(live, path) if live is not None else (False, None)
        if found:
            _set(out, path, copy.deepcopy(value))
        else:
            _remove(out, path)
    if live is not None and managers:
        for path in manager_paths(live, managers):
            _remove(out, path)
    return out


def ignores_for(
    rules: tuple[IgnoreRule, ...], ref: ObjectRef
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The JSON pointers and manager names of every rule that matches ``ref``."""
    pointers: list[str] = []
    managers: list[str] = []
    for rule in rules:
        if all(
            want is None or want == have
            for want, have in (
                (rule.group, ref.group),
                (rule.kind, ref.kind),
                (rule.name, ref.name),
                (rule.namespace, ref.namespace),
            )
        ):
            pointers.extend(rule.json_pointers)
            managers.extend(rule.managers)
    return tuple(pointers), tuple(managers)
