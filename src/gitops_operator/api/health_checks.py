"""``spec.healthCheckExprs`` of an Application and the operator-wide defaults
(``GITOPS_HEALTH_CHECK_EXPRS``): health rules per kind as CEL expressions, in the shape
of Flux's Kustomization ``healthCheckExprs``. Only the shape is checked here; whether an
expression compiles is the business of ``health.expressions``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import InvalidSpecError

MAX_HEALTH_CHECK_EXPRS = 64
"""Entries one list may hold (the CRD says the same with maxItems)."""
MAX_EXPRESSION_LENGTH = 4096
"""Characters one expression may hold (the CRD says the same with maxLength)."""

INVALID_HEALTH_CHECK = "InvalidHealthCheck"
"""The condition reason of every error in a health check expression list."""

_REQUIRED = ("apiVersion", "kind", "current")
_OPTIONAL = ("inProgress", "failed")


@dataclass(frozen=True, slots=True)
class HealthCheckExpr:
    """One entry: the objects of ``api_version`` and ``kind`` are Progressing while
    ``in_progress`` is true, Degraded while ``failed`` is, Healthy once ``current`` is."""

    api_version: str
    kind: str
    current: str
    in_progress: str = ""
    failed: str = ""


def parse_health_check_exprs(raw: Any, where: str) -> tuple[HealthCheckExpr, ...]:
    """The entries of ``raw`` (a list of mappings, or None); ``where`` names the list in
    error messages (``spec.healthCheckExprs``). Two entries for one apiVersion and kind
    are refused: which of them applies would be a guess."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _invalid(f"{where}: expected a list, got {type(raw).__name__}")
    if len(raw) > MAX_HEALTH_CHECK_EXPRS:
        raise _invalid(f"{where}: {len(raw)} entries, at most {MAX_HEALTH_CHECK_EXPRS}")
    entries = tuple(_entry(item, f"{where}[{index}]") for index, item in enumerate(raw))
    seen: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(entries):
        key = (entry.api_version, entry.kind)
        if key in seen:
            raise _invalid(
                f"{where}[{index}]: {entry.api_version} {entry.kind} is already"
                f" given by {where}[{seen[key]}]"
            )
        seen[key] = index
    return entries


def parse_health_check_exprs_text(text: str, where: str) -> tuple[HealthCheckExpr, ...]:
    """The entries of a YAML or JSON list held in a string (an environment variable)."""
    if not text.strip():
        return ()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _invalid(f"{where}: not YAML or JSON: {exc}") from None
    return parse_health_check_exprs(raw, where)


def _entry(item: Any, where: str) -> HealthCheckExpr:
    if not isinstance(item, Mapping):
        raise _invalid(f"{where}: expected a mapping, got {type(item).__name__}")
    unknown = sorted(set(item) - {*_REQUIRED, *_OPTIONAL})
    if unknown:
        raise _invalid(
            f"{where}: unknown field(s) {', '.join(map(str, unknown))};"
            f" expected {', '.join((*_REQUIRED, *_OPTIONAL))}"
        )
    values: dict[str, str] = {}
    for name in (*_REQUIRED, *_OPTIONAL):
        value = item.get(name)
        if value is None or value == "":
            if name in _REQUIRED:
                raise _invalid(f"{where}.{name} is required")
            value = ""
        if not isinstance(value, str):
            raise _invalid(f"{where}.{name}: expected a string")
        if len(value) > MAX_EXPRESSION_LENGTH:
            raise _invalid(
                f"{where}.{name}: {len(value)} characters, at most {MAX_EXPRESSION_LENGTH}"
            )
        values[name] = value
    return HealthCheckExpr(
        api_version=values["apiVersion"],
        kind=values["kind"],
        current=values["current"],
        in_progress=values["inProgress"],
        failed=values["failed"],
    )


def _invalid(message: str) -> InvalidSpecError:
    return InvalidSpecError(message, reason=INVALID_HEALTH_CHECK)
