"""``spec.postBuild`` of an Application: variables substituted into the rendered objects,
in the shape of Flux's Kustomization (``substitute``, ``substituteFrom``), so that its
users can move without rewriting their manifests.

Field names of ``postBuild`` are spelled here only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import InvalidSpecError
from . import GROUP

SUBSTITUTE_ANNOTATION = f"{GROUP}/substitute"
"""``disabled`` on an object leaves it as rendered (no substitution)."""
FLUX_SUBSTITUTE_ANNOTATION = "kustomize.toolkit.fluxcd.io/substitute"
"""Flux's spelling of ``SUBSTITUTE_ANNOTATION``, honoured the same way."""
DISABLED = "disabled"

VARIABLE_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
"""What Flux accepts as a variable name (``^[_[:alpha:]][_[:alpha:][:digit:]]*$``)."""


class SourceKind(StrEnum):
    CONFIG_MAP = "ConfigMap"
    SECRET = "Secret"  # noqa: S105 (a kind)


@dataclass(frozen=True, slots=True)
class SubstituteSource:
    """``spec.postBuild.substituteFrom[]``: a ConfigMap or Secret of the Application's own
    namespace whose data keys are variables; ``optional``: a missing one is no error."""

    kind: SourceKind
    name: str
    optional: bool = False

    def __str__(self) -> str:
        return f"{self.kind.value} {self.name}"


@dataclass(frozen=True, slots=True)
class PostBuild:
    """``spec.postBuild``. Precedence, as Flux documents it: a later ``substituteFrom``
    entry overrides an earlier one, and ``substitute`` overrides them all. ``strict``:
    a variable without a value or a default fails the render instead of becoming ``""``."""

    substitute: tuple[tuple[str, str], ...] = ()
    substitute_from: tuple[SubstituteSource, ...] = ()
    strict: bool = False

    @property
    def enabled(self) -> bool:
        """Whether any substitution runs (Flux substitutes only when postBuild is set)."""
        return bool(self.substitute or self.substitute_from or self.strict)


def parse_post_build(spec: dict[str, Any]) -> PostBuild:
    """``spec.postBuild`` of an Application spec; raises ``InvalidSpecError`` for a
    variable name Flux would refuse."""
    post_build = spec.get("postBuild") or {}
    if not isinstance(post_build, dict):
        raise InvalidSpecError("spec.postBuild must be a mapping")
    substitute = post_build.get("substitute") or {}
    if not isinstance(substitute, dict):
        raise InvalidSpecError("spec.postBuild.substitute must be a map of name to value")
    for name in substitute:
        check_variable_name(str(name), "spec.postBuild.substitute")
    sources = []
    for index, entry in enumerate(post_build.get("substituteFrom") or ()):
        where = f"spec.postBuild.substituteFrom[{index}]"
        kind = str((entry or {}).get("kind") or "")
        if kind not in {k.value for k in SourceKind}:
            raise InvalidSpecError(f"{where}.kind: {kind!r} is not ConfigMap or Secret")
        name = str(entry.get("name") or "")
        if not name:
            raise InvalidSpecError(f"{where}.name is required")
        sources.append(SubstituteSource(SourceKind(kind), name, bool(entry.get("optional"))))
    return PostBuild(
        substitute=tuple((str(k), str(v)) for k, v in substitute.items()),
        substitute_from=tuple(sources),
        strict=bool(post_build.get("strict", False)),
    )


def check_variable_name(name: str, where: str) -> None:
    """Raise ``InvalidSpecError`` unless ``name`` is a variable name Flux accepts."""
    if not VARIABLE_NAME.fullmatch(name):
        raise InvalidSpecError(
            f"{where}: {name[:63]!r} is not a variable name (a letter or '_', then letters,"
            " digits or '_')"
        )
