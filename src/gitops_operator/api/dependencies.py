"""``spec.dependsOn`` entries that name any Kubernetes object, beside Applications.

An entry with ``apiVersion`` and ``kind`` (other than this operator's Application) names
an object: ``name``, ``namespace`` (default: the Application's), and what makes it ready,
in the shape of flux-operator's ResourceSet ``dependsOn``: ``ready: true`` (its health
is Healthy), ``readyExpr`` (a CEL expression over the object is true), or neither (it
exists). Only the shape is checked here; whether an expression compiles is decided with
``health.expressions`` before anything is applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidSpecError
from .health_checks import MAX_EXPRESSION_LENGTH

INVALID_DEPENDENCY = "InvalidDependency"
"""The condition reason of a ``spec.dependsOn`` entry that cannot be used."""

_APPLICATION = "Application"
_OWN_GROUP = "gitops-operator.dev/"
_FIELDS = ("apiVersion", "kind", "name", "namespace", "ready", "readyExpr")


@dataclass(frozen=True, slots=True, order=True)
class ObjectDependency:
    """An object this Application waits for, and what makes it ready."""

    api_version: str
    kind: str
    namespace: str
    name: str
    ready: bool = False
    """Wait until its health (the operator's health assessment) is Healthy."""
    ready_expr: str = ""
    """Wait until this CEL expression over the object is true."""
    where: str = "spec.dependsOn"
    """The entry, in messages (``spec.dependsOn[1]``)."""

    def __str__(self) -> str:
        scope = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {scope}{self.name} ({self.api_version})"


def is_application_entry(entry: dict[str, Any]) -> bool:
    """Whether a ``dependsOn`` entry names an Application (no kind, or this operator's
    Application kind); every other entry names an object."""
    kind = entry.get("kind")
    api_version = str(entry.get("apiVersion") or "")
    if not kind and not api_version:
        return True
    return kind == _APPLICATION and (not api_version or api_version.startswith(_OWN_GROUP))


def parse_object_dependencies(raw: Any, namespace: str) -> tuple[ObjectDependency, ...]:
    """The object entries of ``spec.dependsOn`` (``raw``); raises ``InvalidSpecError``
    (reason InvalidDependency) naming the first entry that cannot be used."""
    result = []
    for index, entry in enumerate(raw or ()):
        where = f"spec.dependsOn[{index}]"
        if not isinstance(entry, dict):
            raise _invalid(f"{where}: expected a mapping, got {type(entry).__name__}")
        if is_application_entry(entry):
            for name in ("ready", "readyExpr"):
                if name in entry:
                    raise _invalid(
                        f"{where}.{name} applies to objects named by apiVersion and kind;"
                        " an Application dependency waits for the Application's Ready"
                    )
            continue
        result.append(_object_entry(entry, where, namespace))
    return tuple(result)


def _object_entry(entry: dict[str, Any], where: str, namespace: str) -> ObjectDependency:
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise _invalid(
            f"{where}: unknown field(s) {', '.join(map(str, unknown))};"
            f" expected {', '.join(_FIELDS)}"
        )
    for name in ("apiVersion", "kind", "name"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise _invalid(f"{where}.{name} is required when an entry names an object")
    ready = entry.get("ready", False)
    if not isinstance(ready, bool):
        raise _invalid(f"{where}.ready: expected true or false")
    expr = entry.get("readyExpr") or ""
    if not isinstance(expr, str):
        raise _invalid(f"{where}.readyExpr: expected a string")
    if ready and expr:
        raise _invalid(f"{where}: give ready or readyExpr, not both")
    if len(expr) > MAX_EXPRESSION_LENGTH:
        raise _invalid(
            f"{where}.readyExpr: {len(expr)} characters, at most {MAX_EXPRESSION_LENGTH}"
        )
    return ObjectDependency(
        api_version=entry["apiVersion"],
        kind=entry["kind"],
        namespace=str(entry.get("namespace") or namespace),
        name=entry["name"],
        ready=ready,
        ready_expr=expr,
        where=where,
    )


def _invalid(message: str) -> InvalidSpecError:
    return InvalidSpecError(message, reason=INVALID_DEPENDENCY)
