"""Health by expression: rules per kind in CEL, in the shape of Flux's ``healthCheckExprs``.

Each expression sees the object's top-level fields as variables (``status``,
``metadata``, ``spec``...), as Flux's do, and the whole object as ``self``. They are
evaluated in Flux's order, the first true one deciding: ``inProgress`` (Progressing),
``failed`` (Degraded), ``current`` (Healthy). None true: Progressing. An expression that
cannot be evaluated on the object (a field it reads is absent, a result that is not a
bool) leaves the object Progressing with the error in the message, as Flux waits until
its timeout: a field that appears later (a status written by the object's controller)
then makes it pass.

Expressions are compiled once per distinct text and kept (``compile_expression``); a list
that does not compile is refused whole, naming the entry, before anything is applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..api.health_checks import (
    INVALID_HEALTH_CHECK,
    HealthCheckExpr,
    parse_health_check_exprs_text,
)
from ..config import HEALTH_CHECK_EXPRS_ENV
from ..errors import InvalidSpecError
from .status import Health, HealthStatus

if TYPE_CHECKING:
    import cel

COMPILED_CACHE_SIZE = 1024
"""Distinct expression texts kept compiled (the operator-wide ones and every
Application's share the cache)."""

_SELF = "self"


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def compile_expression(source: str) -> cel.Program:
    """The compiled program of ``source``; raises ``ValueError`` with the CEL error."""
    # Imported on first use: the package's import brings its command line (about 0.3 s
    # and 30 MB), which an operator without health rules need not pay for.
    import cel

    return cel.compile(source)


@dataclass(frozen=True, slots=True)
class ExprRule:
    """One compiled entry; ``where`` names it in messages (``spec.healthCheckExprs[0]``)."""

    where: str
    entry: HealthCheckExpr
    current: cel.Program
    in_progress: cel.Program | None = None
    failed: cel.Program | None = None
    names: frozenset[str] = frozenset()
    """The variables the expressions read (top-level fields of the object, ``self``)."""

    def evaluate(self, obj: Mapping[str, Any]) -> Health:
        # Only the fields the expressions name are converted to CEL values, and once for
        # all three: the whole object, for each, cost five times as much.
        context = _context(self.names, obj)
        steps = (
            ("inProgress", self.in_progress, HealthStatus.PROGRESSING),
            ("failed", self.failed, HealthStatus.DEGRADED),
            ("current", self.current, HealthStatus.HEALTHY),
        )
        for name, program, status in steps:
            if program is None:
                continue
            try:
                result = program.execute(context)
            except Exception as exc:  # the library raises KeyError, ValueError, TypeError...
                return Health(
                    HealthStatus.PROGRESSING,
                    f"{self.where}.{name} cannot be evaluated yet: {describe_error(exc)}",
                )
            if not isinstance(result, bool):
                return Health(
                    HealthStatus.PROGRESSING,
                    f"{self.where}.{name} evaluated to {type(result).__name__}, not a bool",
                )
            if result:
                return Health(status, f"{self.where}.{name} is true")
        return Health(
            HealthStatus.PROGRESSING,
            f"waiting for {self.where}.current: no expression is true yet",
        )


def evaluate_expression(program: cel.Program, obj: Mapping[str, Any]) -> Any:
    """The value of one compiled expression over ``obj``, with the variables health rules
    see (its top-level fields, and ``self``). Raises what the library raises (KeyError,
    ValueError, TypeError...) when it cannot be evaluated; ``describe_error`` words it."""
    return program.execute(_context(frozenset(program.variables()), obj))


def _context(names: frozenset[str], obj: Mapping[str, Any]) -> cel.Context:
    import cel  # already loaded by the compile of the program

    return cel.Context(
        {
            name: obj if name == _SELF else obj[name]
            for name in names
            if name == _SELF or name in obj
        }
    )


@dataclass(frozen=True, slots=True)
class HealthRules:
    """Compiled rules by (apiVersion, kind); empty: the built-in rules for every kind."""

    by_kind: Mapping[tuple[str, str], ExprRule] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.by_kind)

    def rule_for(self, obj: Mapping[str, Any]) -> ExprRule | None:
        return self.by_kind.get((str(obj.get("apiVersion", "")), str(obj.get("kind", ""))))

    def kinds(self) -> list[str]:
        return [f"{api_version} {kind}" for api_version, kind in self.by_kind]


NO_RULES = HealthRules()


def compile_rules(*layers: tuple[Iterable[HealthCheckExpr], str]) -> HealthRules:
    """Rules from ``(entries, where)`` layers, later layers overriding earlier ones for the
    same apiVersion and kind (operator-wide defaults first, the Application's last).

    Raises ``InvalidSpecError`` (reason InvalidHealthCheck) naming the first entry and
    field that does not compile, with the CEL error."""
    by_kind: dict[tuple[str, str], ExprRule] = {}
    for entries, where in layers:
        for index, entry in enumerate(entries):
            at = f"{where}[{index}]"
            current = _compile(entry.current, f"{at}.current")
            in_progress = _optional(entry.in_progress, f"{at}.inProgress")
            failed = _optional(entry.failed, f"{at}.failed")
            programs = [p for p in (current, in_progress, failed) if p is not None]
            by_kind[(entry.api_version, entry.kind)] = ExprRule(
                where=at,
                entry=entry,
                current=current,
                in_progress=in_progress,
                failed=failed,
                names=frozenset(name for p in programs for name in p.variables()),
            )
    return HealthRules(by_kind) if by_kind else NO_RULES


def operator_health_checks(text: str) -> tuple[HealthCheckExpr, ...]:
    """The operator-wide entries (``GITOPS_HEALTH_CHECK_EXPRS``), parsed and compiled:
    raises ``InvalidSpecError`` naming the entry, for the operator to refuse to start."""
    entries = parse_health_check_exprs_text(text, HEALTH_CHECK_EXPRS_ENV)
    compile_rules((entries, HEALTH_CHECK_EXPRS_ENV))
    return entries


def application_rules(
    defaults: Iterable[HealthCheckExpr], own: Iterable[HealthCheckExpr]
) -> HealthRules:
    """The operator-wide rules with an Application's ``own`` (``spec.healthCheckExprs``)
    over them for the same apiVersion and kind."""
    return compile_rules((defaults, HEALTH_CHECK_EXPRS_ENV), (own, "spec.healthCheckExprs"))


def _optional(source: str, where: str) -> cel.Program | None:
    return _compile(source, where) if source else None


def _compile(source: str, where: str) -> cel.Program:
    try:
        return compile_expression(source)
    except Exception as exc:  # ValueError for a syntax error; anything else is no better
        raise InvalidSpecError(
            f"{where} does not compile: {describe_error(exc)}", reason=INVALID_HEALTH_CHECK
        ) from None


def describe_error(exc: Exception) -> str:
    """A CEL compile or evaluation error in one line."""
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0] if exc.args else ''}"
    return " ".join(str(exc).split()) or type(exc).__name__
