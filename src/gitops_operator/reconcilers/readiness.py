"""Whether an object named in ``spec.dependsOn`` is ready for the Application: pure
functions of the object's JSON and the entry, table-tested."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..api.dependencies import INVALID_DEPENDENCY, ObjectDependency
from ..errors import InvalidSpecError
from ..health import HealthStatus, assess
from ..health.expressions import compile_expression, describe_error, evaluate_expression

if TYPE_CHECKING:
    import cel

Programs = Mapping[str, "cel.Program"]


def compile_ready_exprs(deps: Iterable[ObjectDependency]) -> dict[str, cel.Program]:
    """Each distinct ``readyExpr``, compiled (and cached across passes); raises
    ``InvalidSpecError`` (reason InvalidDependency) naming the first entry that does not
    compile, so nothing is applied."""
    programs: dict[str, cel.Program] = {}
    for dep in deps:
        if dep.ready_expr and dep.ready_expr not in programs:
            try:
                programs[dep.ready_expr] = compile_expression(dep.ready_expr)
            except Exception as exc:  # ValueError for a syntax error; anything else is no better
                raise InvalidSpecError(
                    f"{dep.where}.readyExpr does not compile: {describe_error(exc)}",
                    reason=INVALID_DEPENDENCY,
                ) from None
    return programs


def object_blocker(
    obj: Mapping[str, Any] | None, dep: ObjectDependency, programs: Programs
) -> str | None:
    """Why ``obj`` (None: not found) is not ready for a dependent, or None when it is:
    it exists; with ``ready``, its health is Healthy; with ``readyExpr``, that is true."""
    if obj is None:
        return "not found"
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "being deleted"
    if dep.ready:
        health = assess(dict(obj))
        if health.status is not HealthStatus.HEALTHY:
            detail = f": {health.message}" if health.message else ""
            return f"not Healthy ({health.status.value}{detail})"
        return None
    if not dep.ready_expr:
        return None
    try:
        result = evaluate_expression(programs[dep.ready_expr], obj)
    except Exception as exc:  # the library raises KeyError, ValueError, TypeError...
        return f"readyExpr cannot be evaluated: {describe_error(exc)}"
    if not isinstance(result, bool):
        return f"readyExpr evaluated to {type(result).__name__}, not a bool"
    return None if result else f"readyExpr {dep.ready_expr!r} is false"
