"""spec.dependsOn entries that name objects: parsing, and whether an object is ready."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from gitops_operator.api import parse_application_spec, parse_depends_on
from gitops_operator.api.dependencies import ObjectDependency, parse_object_dependencies
from gitops_operator.errors import InvalidSpecError
from gitops_operator.reconcilers.dependencies import check_namespaces
from gitops_operator.reconcilers.readiness import compile_ready_exprs, object_blocker
from gitops_operator.reconcilers.run import ApplicationRun

CM = {"apiVersion": "v1", "kind": "ConfigMap", "name": "flag"}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (CM, ObjectDependency("v1", "ConfigMap", "team", "flag", where="spec.dependsOn[0]")),
        (
            {**CM, "namespace": "other", "ready": True},
            ObjectDependency("v1", "ConfigMap", "other", "flag", True, where="spec.dependsOn[0]"),
        ),
        (
            {**CM, "readyExpr": 'data.ready == "yes"'},
            ObjectDependency(
                "v1",
                "ConfigMap",
                "team",
                "flag",
                ready_expr='data.ready == "yes"',
                where="spec.dependsOn[0]",
            ),
        ),
        (
            {"apiVersion": "example.com/v1", "kind": "Application", "name": "x"},
            ObjectDependency(
                "example.com/v1", "Application", "team", "x", where="spec.dependsOn[0]"
            ),
        ),
    ],
)
def test_object_entries_are_parsed_with_defaults(entry: dict[str, Any], expected: Any) -> None:
    assert parse_object_dependencies([entry], "team") == (expected,)
    assert parse_depends_on({"dependsOn": [entry]}, "team") == ()


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "db"},
        {"name": "db", "namespace": "x"},
        {"kind": "Application", "name": "db"},
        {"apiVersion": "gitops-operator.dev/v1alpha1", "kind": "Application", "name": "db"},
    ],
)
def test_application_entries_are_not_objects(entry: dict[str, Any]) -> None:
    assert parse_object_dependencies([entry], "team") == ()
    assert len(parse_depends_on({"dependsOn": [entry]}, "team")) == 1


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "ConfigMap", "name": "x"}, "spec.dependsOn[0].apiVersion is required"),
        ({"apiVersion": "v1", "name": "x"}, "spec.dependsOn[0].kind is required"),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, "spec.dependsOn[0].name is required"),
        ({**CM, "ready": True, "readyExpr": "true"}, "ready or readyExpr, not both"),
        ({**CM, "ready": "yes"}, "ready: expected true or false"),
        ({**CM, "readyExpr": 3}, "readyExpr: expected a string"),
        ({**CM, "readyExpr": "x" * 5000}, "at most 4096"),
        ({**CM, "labels": {}}, "unknown field(s) labels"),
        ({"name": "db", "ready": True}, "spec.dependsOn[0].ready applies to objects"),
        ("db", "expected a mapping"),
    ],
)
def test_unusable_entries_are_refused_naming_them(entry: Any, message: str) -> None:
    with pytest.raises(InvalidSpecError, match=None) as caught:
        parse_application_spec({"sourceRef": {"name": "s"}, "dependsOn": [entry]}, "team")
    assert caught.value.reason == "InvalidDependency"
    assert message in str(caught.value)


def _dep(**kw: Any) -> ObjectDependency:
    return ObjectDependency("v1", "ConfigMap", "team", "flag", **kw)


def _cm(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flag"}, "data": data}


def _deployment(available: bool) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "db", "generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1 if available else 0,
            "availableReplicas": 1 if available else 0,
        },
    }


READY_EXPR = 'data.ready == "yes"'


@pytest.mark.parametrize(
    ("obj", "dep", "blocker"),
    [
        (None, _dep(), "not found"),
        (_cm(), _dep(), None),
        ({**_cm(), "metadata": {"deletionTimestamp": "now"}}, _dep(), "being deleted"),
        (_cm(ready="yes"), _dep(ready_expr=READY_EXPR), None),
        (_cm(ready="no"), _dep(ready_expr=READY_EXPR), f"readyExpr {READY_EXPR!r} is false"),
        (_cm(), _dep(ready_expr=READY_EXPR), "readyExpr cannot be evaluated: no such key"),
        ({**_cm(), "data": None}, _dep(ready_expr=READY_EXPR), "readyExpr cannot be evaluated"),
        (_cm(ready="yes"), _dep(ready_expr="data.ready"), "readyExpr evaluated to str, not a bool"),
        (_cm(ready="yes"), _dep(ready_expr='self.metadata.name == "flag"'), None),
        (_deployment(True), _dep(ready=True), None),
        (_deployment(False), _dep(ready=True), "not Healthy (Progressing"),
        (_deployment(False), _dep(), None),
    ],
)
def test_object_blocker(obj: Any, dep: ObjectDependency, blocker: str | None) -> None:
    got = object_blocker(obj, dep, compile_ready_exprs([dep]))
    if blocker is None:
        assert got is None
    else:
        assert got is not None and got.startswith(blocker), got


def test_an_expression_that_does_not_compile_is_refused_naming_its_entry() -> None:
    deps = parse_object_dependencies([CM, {**CM, "readyExpr": "data.ready =="}], "team")
    with pytest.raises(InvalidSpecError) as caught:
        compile_ready_exprs(deps)
    assert caught.value.reason == "InvalidDependency"
    assert str(caught.value).startswith("spec.dependsOn[1].readyExpr does not compile: ")


@pytest.mark.parametrize(
    ("entry", "refused"),
    [
        ({**CM, "namespace": "other"}, True),
        ({**CM, "namespace": "team"}, False),
        (CM, False),
        ({"name": "db", "namespace": "other"}, True),
    ],
)
def test_no_cross_namespace_refs_covers_object_entries(
    entry: dict[str, Any], refused: bool
) -> None:
    spec = parse_application_spec({"sourceRef": {"name": "s"}, "dependsOn": [entry]}, "team")
    run = cast(ApplicationRun, SimpleNamespace(spec=spec, namespace="team"))
    check_namespaces(run, False)
    if not refused:
        check_namespaces(run, True)
        return
    with pytest.raises(InvalidSpecError) as caught:
        check_namespaces(run, True)
    assert caught.value.reason == "CrossNamespaceRef"
