"""The cost of health by CEL expression (spec.healthCheckExprs), no cluster.

    .venv/bin/python bench/health_exprs.py              # 20000 assessments, 5 runs

Rows: the first compile of a three-expression entry (the library's import included, as
an operator pays it once), compiling it again (from the cache), and ``assess`` of one
custom resource with 3 conditions by the entry (its ``current`` expression decides:
inProgress and failed are evaluated first), against ``assess`` by the built-in kstatus
rules. Medians per call, in microseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from gitops_operator.api import HealthCheckExpr
from gitops_operator.health import HealthStatus, assess, compile_rules

ENTRY = HealthCheckExpr(
    "example.dev/v1",
    "Widget",
    in_progress="metadata.generation != status.observedGeneration",
    failed="status.conditions.exists(c, c.type == 'Ready' && c.reason == 'Failed')",
    current="status.conditions.filter(c, c.type == 'Ready').all(c, c.status == 'True')",
)
OBJ: dict[str, Any] = {
    "apiVersion": "example.dev/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "ns", "generation": 3, "labels": {"app": "w"}},
    "spec": {"size": 3, "image": "registry.example/w:1.2.3"},
    "status": {
        "observedGeneration": 3,
        "conditions": [
            {"type": "Reconciling", "status": "False", "reason": "Done", "message": ""},
            {"type": "Stalled", "status": "False", "reason": "Done", "message": ""},
            {"type": "Ready", "status": "True", "reason": "Provisioned", "message": "ok"},
        ],
    },
}


def per_call_us(fn: Any, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    start = time.perf_counter()
    rules = compile_rules(([ENTRY], "spec.healthCheckExprs"))
    first = (time.perf_counter() - start) * 1e6
    assert assess(OBJ, rules).status is HealthStatus.HEALTHY

    rows = {
        "first compile of the entry, library import included": [first],
        "compile again (cached programs)": [
            per_call_us(lambda: compile_rules(([ENTRY], "x")), args.calls // 10)
            for _ in range(args.runs)
        ],
        "assess one object by the entry": [
            per_call_us(lambda: assess(OBJ, rules), args.calls) for _ in range(args.runs)
        ],
        "assess one object by the built-in kstatus rules": [
            per_call_us(lambda: assess(OBJ), args.calls) for _ in range(args.runs)
        ],
    }
    print("| measure | median µs |\n| --- | --- |")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.1f} |")


if __name__ == "__main__":
    main()
