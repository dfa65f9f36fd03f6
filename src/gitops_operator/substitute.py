"""Post-build variable substitution with Flux's syntax and results, on each rendered
object's parsed values rather than on its YAML text.

Flux substitutes the text and parses it again, so ``replicas: ${REPLICAS}`` becomes the
integer 3 while ``value: "${PORT}"`` stays a string. The loader marks unquoted strings
holding ``${`` (``objects.PlainScalar``); here those are read again as YAML once
substituted, and every other string stays a string. The results match Flux's, without a
YAML dump and parse of every object, and a value with a quote or a newline cannot break a
quoted string. An unquoted one can still make invalid YAML: an error naming the object.

Syntax: ``${NAME}``; ``${NAME:=default}`` and ``${NAME:-default}`` (the default when
unset or empty); ``${NAME=default}`` and ``${NAME-default}`` (when unset); ``$${NAME}``
is the literal ``${NAME}``; ``$NAME`` without braces is left alone (as Flux does). An
unset variable without a default becomes ``""``, or fails in strict mode. Substituted
values are not scanned again. Error messages name objects and variables, never values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from .api.substitute import DISABLED, FLUX_SUBSTITUTE_ANNOTATION, SUBSTITUTE_ANNOTATION
from .errors import SubstitutionError
from .objects import Manifest, PlainScalar

_START = re.compile(r"\$(\$)?\{")
_EXPRESSION = re.compile(r"([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?[=-])(.*))?", re.DOTALL)
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def substitute_text(
    text: str,
    variables: Mapping[str, str],
    *,
    strict: bool,
    missing: list[str] | None = None,
) -> str:
    """``text`` with every ``${...}`` replaced; the names without a value or a default
    are added to ``missing``. Raises ``SubstitutionError`` (without the object's name:
    the caller adds it) for an unsupported or unterminated expression, and in strict
    mode when a variable has no value and no default."""
    out: list[str] = []
    missing = [] if missing is None else missing
    pos = 0
    for match in _START.finditer(text):
        if match.start() < pos:
            continue  # inside an expression already replaced
        out.append(text[pos : match.start()])
        if match.group(1):  # $${...}: the literal ${
            out.append("${")
            pos = match.end()
            continue
        end = text.find("}", match.end())
        if end < 0:
            raise SubstitutionError(f"unterminated ${{ at character {match.start()}")
        out.append(_evaluate(text[match.end() : end], variables, missing))
        pos = end + 1
    out.append(text[pos:])
    if strict and missing:
        names = ", ".join(sorted(set(missing)))
        raise SubstitutionError(
            f"variable(s) {names} have no value and no default (strict substitution)"
        )
    return "".join(out)


def _evaluate(inner: str, variables: Mapping[str, str], missing: list[str]) -> str:
    parsed = _EXPRESSION.fullmatch(inner)
    if parsed is None:
        shown = inner if len(inner) <= 40 else inner[:37] + "..."
        raise SubstitutionError(
            f"${{{shown}}} is not supported: use ${{NAME}}, ${{NAME:=default}} or"
            " ${NAME:-default}, a NAME of letters, digits and '_'; $${...} for a literal ${...}"
        )
    name, operator, default = parsed.groups()
    value = variables.get(name)
    if operator is None:
        if value is None:
            missing.append(name)
            return ""
        return value
    unset_or_empty = operator.startswith(":")
    if value is None or (unset_or_empty and value == ""):
        return str(default)
    return value


def substitution_disabled(obj: Mapping[str, Any]) -> bool:
    """Whether the object opts out (``gitops-operator.dev/substitute: disabled``, or
    Flux's ``kustomize.toolkit.fluxcd.io/substitute: disabled``)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if not isinstance(annotations, dict):
        return False
    return DISABLED in (
        annotations.get(SUBSTITUTE_ANNOTATION),
        annotations.get(FLUX_SUBSTITUTE_ANNOTATION),
    )


def substitute_manifests(
    manifests: list[Manifest], variables: Mapping[str, str], *, strict: bool
) -> list[Manifest]:
    """Each manifest with its variables substituted (objects that opt out, or hold no
    ``${``, unchanged). Raises ``SubstitutionError`` naming the object (kind, namespace,
    name, file) when its substitution fails or its result is not a Kubernetes object."""
    result = []
    for manifest in manifests:
        if substitution_disabled(manifest.obj) or "${" not in json.dumps(manifest.obj):
            result.append(manifest)
            continue
        where = f"{manifest.ref} (from {manifest.source})"
        missing: list[str] = []
        try:
            obj = _walk(manifest.obj, variables, missing)
        except SubstitutionError as exc:
            raise SubstitutionError(f"{where}: {exc.message}") from None
        if strict and missing:
            raise SubstitutionError(
                f"{where}: variable(s) {', '.join(sorted(set(missing)))} have no value and"
                " no default (strict substitution)"
            )
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if not isinstance(meta, dict) or not meta.get("name") or not obj.get("kind"):
            raise SubstitutionError(f"{where}: after substitution it has no kind or name")
        result.append(Manifest(obj, manifest.source))
    return result


def _walk(value: Any, variables: Mapping[str, str], missing: list[str]) -> Any:
    if isinstance(value, dict):
        return {
            _walk(k, variables, missing): _walk(v, variables, missing) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_walk(v, variables, missing) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    text = substitute_text(value, variables, strict=False, missing=missing)
    if not isinstance(value, PlainScalar):
        return text
    try:
        parsed = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        # Only the position and the parser's own words: its excerpt of the text could
        # hold a substituted value, and values may come from Secrets.
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SubstitutionError(
            f"an unquoted value is no longer valid YAML once substituted ({problem});"
            " quote it in the manifest"
        ) from None
    if isinstance(parsed, dict):
        raise SubstitutionError(
            "an unquoted value became a mapping once substituted (invalid YAML after a"
            " key); quote it in the manifest"
        )
    return parsed


MASK = "***"
MIN_MASKED = 3
"""Values shorter than this are not masked: they would mangle every message they occur
in, and are too short to be worth hiding."""


def mask_values(value: Any, secrets: frozenset[str]) -> Any:
    """``value`` (a string, or JSON-like data) with every occurrence of a Secret-sourced
    variable value replaced by ``***``: what status, Events and logs may show."""
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= MIN_MASKED and secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {k: mask_values(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_values(v, secrets) for v in value]
    return value
