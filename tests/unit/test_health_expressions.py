"""Health by CEL expression (``spec.healthCheckExprs`` and the operator-wide defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from gitops_operator.api import (
    HealthCheckExpr,
    parse_application_spec,
    parse_health_check_exprs,
    parse_health_check_exprs_text,
)
from gitops_operator.config import Settings
from gitops_operator.errors import InvalidSpecError
from gitops_operator.health import NO_RULES, HealthStatus, assess, compile_rules
from gitops_operator.health.expressions import compile_expression
from gitops_operator.reconcilers.application import ApplicationReconciler

READY = "status.conditions.filter(c, c.type == 'Ready').all(c, c.status == 'True')"
FAILED = "status.conditions.exists(c, c.type == 'Ready' && c.reason == 'Broken')"
IN_PROGRESS = "self.metadata.generation != self.status.observedGeneration"
WIDGET = HealthCheckExpr(
    "example.dev/v1", "Widget", current=READY, failed=FAILED, in_progress=IN_PROGRESS
)


def widget(
    ready: str | None = None, *, reason: str = "", observed: int = 1, kind: str = "Widget"
) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": observed, "conditions": []}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "reason": reason}]
    return {
        "apiVersion": "example.dev/v1",
        "kind": kind,
        "metadata": {"name": "w", "namespace": "ns", "generation": 1},
        "status": status,
    }


RULES = compile_rules(([WIDGET], "spec.healthCheckExprs"))


@pytest.mark.parametrize(
    ("obj", "status", "message"),
    [
        (widget("True"), HealthStatus.HEALTHY, "spec.healthCheckExprs[0].current is true"),
        (
            widget("False", reason="Broken"),
            HealthStatus.DEGRADED,
            "spec.healthCheckExprs[0].failed is true",
        ),
        # inProgress is evaluated first: a stale status never reads as failed or current
        (
            widget("False", reason="Broken", observed=0),
            HealthStatus.PROGRESSING,
            "spec.healthCheckExprs[0].inProgress is true",
        ),
        (
            widget("False", reason="Waiting"),
            HealthStatus.PROGRESSING,
            "waiting for spec.healthCheckExprs[0].current: no expression is true yet",
        ),
        # a field the expression reads is absent: Progressing with the error, as Flux waits
        (
            {**widget(), "status": {"observedGeneration": 1}},
            HealthStatus.PROGRESSING,
            "spec.healthCheckExprs[0].failed cannot be evaluated yet: no such key: conditions",
        ),
        # no status at all: self.status is absent, so is the variable status
        (
            {k: v for k, v in widget().items() if k != "status"},
            HealthStatus.PROGRESSING,
            "spec.healthCheckExprs[0].inProgress cannot be evaluated yet: no such key: status",
        ),
        # another kind keeps the built-in rules (kstatus: Ready=True is Healthy)
        (widget("True", kind="Gadget"), HealthStatus.HEALTHY, ""),
        (None, HealthStatus.MISSING, "Resource does not exist"),
    ],
)
def test_expressions_decide_health(obj: Any, status: HealthStatus, message: str) -> None:
    health = assess(obj, RULES)
    assert (health.status, health.message) == (status, message)


def test_expressions_replace_the_built_in_rule_for_their_kind() -> None:
    # kstatus reads a Ready=True CR as Healthy; an expression that says otherwise wins
    obj = widget("True")
    assert assess(obj).status is HealthStatus.HEALTHY
    strict = HealthCheckExpr("example.dev/v1", "Widget", current="status.phase == 'Running'")
    rules = compile_rules(([strict], "spec.healthCheckExprs"))
    assert assess({**obj, "status": {**obj["status"], "phase": "Pending"}}, rules).status is (
        HealthStatus.PROGRESSING
    )
    assert assess(obj, NO_RULES).status is HealthStatus.HEALTHY


def test_a_result_that_is_not_a_bool_is_progressing_and_says_so() -> None:
    entry = HealthCheckExpr("example.dev/v1", "Widget", current="status.observedGeneration")
    health = assess(widget("True"), compile_rules(([entry], "spec.healthCheckExprs")))
    assert health.status is HealthStatus.PROGRESSING
    assert "spec.healthCheckExprs[0].current evaluated to int, not a bool" in health.message


def test_the_application_overrides_the_operator_defaults_for_the_same_kind() -> None:
    never = HealthCheckExpr("example.dev/v1", "Widget", current="false")
    other = HealthCheckExpr("example.dev/v1", "Gadget", current="false")
    rules = compile_rules(
        ([never, other], "GITOPS_HEALTH_CHECK_EXPRS"), ([WIDGET], "spec.healthCheckExprs")
    )
    assert assess(widget("True"), rules).status is HealthStatus.HEALTHY
    gadget = assess(widget("True", kind="Gadget"), rules)
    assert gadget.message == (
        "waiting for GITOPS_HEALTH_CHECK_EXPRS[1].current: no expression is true yet"
    )


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        (
            [WIDGET, HealthCheckExpr("v1", "ConfigMap", current="true", failed="self.status.(")],
            "spec.healthCheckExprs[1].failed does not compile:",
        ),
        ([HealthCheckExpr("v1", "ConfigMap", current="1 +")], "[0].current does not compile:"),
    ],
)
def test_an_expression_that_does_not_compile_names_its_entry(
    entries: list[HealthCheckExpr], error: str
) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        compile_rules((entries, "spec.healthCheckExprs"))
    assert caught.value.reason == "InvalidHealthCheck"
    assert error in str(caught.value)
    assert "Syntax error" in str(caught.value)  # the CEL error itself


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("nope", "spec.healthCheckExprs: expected a list, got str"),
        ([{"apiVersion": "v1", "kind": "X"}], "spec.healthCheckExprs[0].current is required"),
        (
            [{"apiVersion": "v1", "kind": "X", "current": "true", "inprogress": "x"}],
            "spec.healthCheckExprs[0]: unknown field(s) inprogress",
        ),
        ([{"apiVersion": "v1", "kind": "X", "current": 1}], "[0].current: expected a string"),
        (
            [{"apiVersion": "v1", "kind": "X", "current": "true"}] * 2,
            "spec.healthCheckExprs[1]: v1 X is already given by spec.healthCheckExprs[0]",
        ),
        ([{"apiVersion": "v1", "kind": "X", "current": "x" * 5000}], "at most 4096"),
    ],
)
def test_malformed_entries_are_refused(raw: Any, error: str) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_health_check_exprs(raw, "spec.healthCheckExprs")
    assert caught.value.reason == "InvalidHealthCheck"
    assert error in str(caught.value)


def test_the_application_spec_carries_its_entries() -> None:
    spec = parse_application_spec(
        {
            "sourceRef": {"name": "repo"},
            "healthCheckExprs": [
                {"apiVersion": "example.dev/v1", "kind": "Widget", "current": READY}
            ],
        },
        "ns",
    )
    assert spec.health_check_exprs == (HealthCheckExpr("example.dev/v1", "Widget", READY),)


def test_operator_defaults_are_read_from_yaml_or_json_text() -> None:
    text = '[{"apiVersion": "example.dev/v1", "kind": "Widget", "current": "true"}]'
    yaml_text = "- apiVersion: example.dev/v1\n  kind: Widget\n  current: 'true'\n"
    expected = (HealthCheckExpr("example.dev/v1", "Widget", "true"),)
    assert parse_health_check_exprs_text(text, "X") == expected
    assert parse_health_check_exprs_text(yaml_text, "X") == expected
    assert parse_health_check_exprs_text("  ", "X") == ()
    with pytest.raises(InvalidSpecError, match="GITOPS_HEALTH_CHECK_EXPRS: not YAML"):
        parse_health_check_exprs_text("[", "GITOPS_HEALTH_CHECK_EXPRS")


def test_operator_defaults_that_do_not_compile_stop_the_operator_at_start() -> None:
    bad = '[{"apiVersion": "example.dev/v1", "kind": "Widget", "current": "status.("}]'
    with pytest.raises(InvalidSpecError, match=r"GITOPS_HEALTH_CHECK_EXPRS\[0\]\.current"):
        ApplicationReconciler.from_settings(
            cast(Any, None), cast(Any, None), Settings(health_check_exprs=bad)
        )
    assert Settings.from_env({"GITOPS_HEALTH_CHECK_EXPRS": bad}).health_check_exprs == bad


def test_expressions_are_compiled_once_per_text() -> None:
    compile_expression.cache_clear()
    for _ in range(3):
        compile_rules(([WIDGET], "spec.healthCheckExprs"))
    info = compile_expression.cache_info()
    assert (info.misses, info.hits) == (3, 6)


def test_the_example_application_reads_a_phase() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "application-health-exprs.yaml"
    app = yaml.safe_load(example.read_text())
    spec = parse_application_spec(app["spec"], "default")
    rules = compile_rules((spec.health_check_exprs, "spec.healthCheckExprs"))
    database = yaml.safe_load((example.parent / "health-exprs" / "database.yaml").read_text())
    assert assess(database, rules).message == "spec.healthCheckExprs[0].inProgress is true"
    for phase, status in [
        ("Provisioning", HealthStatus.PROGRESSING),
        ("Failed", HealthStatus.DEGRADED),
        ("Running", HealthStatus.HEALTHY),
    ]:
        assert assess({**database, "status": {"phase": phase}}, rules).status is status
