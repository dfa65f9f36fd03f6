"""Health of a custom resource by CEL expression (spec.healthCheckExprs): the revision
waits while the object says it is not ready, passes once it does, fails (and rolls back)
when the ``failed`` expression holds; an expression that does not compile applies
nothing."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import yaml

from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef

from .apps import application, configmap, repository
from .support import condition, events_for, get_status, wait_for
from .test_reconcile import failed_with, get, synced_to
from .test_tenancy import operator_with

GROUP = "health.example.dev"
API_VERSION = f"{GROUP}/v1"

EXPRS = [
    {
        "apiVersion": API_VERSION,
        "kind": "Widget",
        "inProgress": "metadata.generation != status.observedGeneration",
        "failed": "status.conditions.exists(c, c.type == 'Ready' && c.reason == 'Failed')",
        "current": "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
    }
]


@pytest.fixture(scope="module")
def widgets(kube: KubeClient) -> None:
    """A CRD kstatus has nothing to say about: its objects carry no condition until
    their controller (here: the test) writes one, and kstatus reads that as Current."""
    kube.apply(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets.{GROUP}"},
            "spec": {
                "group": GROUP,
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "subresources": {"status": {}},
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "properties": {"size": {"type": "integer"}},
                                    },
                                    "status": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                },
                            }
                        },
                    }
                ],
            },
        }
    )

    def established() -> bool:
        crd = get(
            kube, "CustomResourceDefinition", "", f"widgets.{GROUP}", "apiextensions.k8s.io/v1"
        )
        conditions = ((crd or {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait_for(established, timeout=30, what="the Widget CRD")
    kube.refresh_discovery()


def widget(size: int, name: str = "w") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": API_VERSION,
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"size": size},
        }
    )


def live_widget(kube: KubeClient, namespace: str) -> dict[str, Any]:
    return kube.get(API_VERSION, ObjectRef(GROUP, "Widget", namespace, "w")) or {}


def report(kube: KubeClient, namespace: str, **ready: str) -> None:
    """What the Widget's controller would write: the generation it has seen and Ready."""
    generation = live_widget(kube, namespace)["metadata"]["generation"]
    kube.patch_status(
        API_VERSION,
        ObjectRef(GROUP, "Widget", namespace, "w"),
        {"observedGeneration": generation, "conditions": [{"type": "Ready", **ready}]},
    )


def app_status(kube: KubeClient, namespace: str) -> dict[str, Any]:
    return get_status(kube, "Application", namespace, "app")


def diagram_health(cli, tmp_path) -> dict[str | None, str | None]:
    """Each object's health as ``gitops-operator diagram`` draws it."""
    target = tmp_path / "app.svg"
    code, _ = cli("diagram", "app", "-o", str(target))
    assert code == 0
    root = ET.fromstring(target.read_text())  # noqa: S314 - written by the CLI under test
    return {
        el.get("data-object"): el.get("data-health") for el in root.iter() if el.get("data-object")
    }


def test_custom_resource_health_comes_from_its_expressions(
    kube, operator, repo, namespace, widgets, cli, tmp_path
):
    good = repo.commit({"app/widget.yaml": widget(1)}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="60s", healthCheckExprs=EXPRS))

    # applied, then held: no status yet, so inProgress cannot be evaluated (Flux waits too)
    wait_for(lambda: live_widget(kube, namespace), timeout=60, what="the Widget applied")
    time.sleep(4)
    status = app_status(kube, namespace)
    assert status.get("health") == "Progressing"
    assert "lastGoodRevision" not in status
    ready = condition(status)
    assert ready.get("status") != "True"
    assert "spec.healthCheckExprs[0].inProgress cannot be evaluated yet" in ready["message"]
    # the CLI draws the health the operator assessed, by the same expressions (kstatus
    # would call a Widget without conditions Healthy)
    assert diagram_health(cli, tmp_path) == {f"Widget/{namespace}/w": "Progressing"}

    report(kube, namespace, status="False", reason="Provisioning")  # none true: still waiting
    time.sleep(3)
    status = app_status(kube, namespace)
    assert status.get("health") == "Progressing"
    assert "waiting for spec.healthCheckExprs[0].current" in condition(status)["message"]

    report(kube, namespace, status="True", reason="Provisioned")
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="Ready once current")
    status = app_status(kube, namespace)
    assert (status["health"], status["lastGoodRevision"]) == ("Healthy", f"main@sha1:{good}")

    bad = repo.commit({"app/widget.yaml": widget(2)}, "bad")
    wait_for(
        lambda: live_widget(kube, namespace)["spec"]["size"] == 2, timeout=60, what="bad applied"
    )
    report(kube, namespace, status="False", reason="Failed")
    wait_for(
        lambda: app_status(kube, namespace).get("failedRevision") == f"main@sha1:{bad}",
        timeout=60,
        what="the revision failed by its failed expression",
    )
    status = app_status(kube, namespace)
    assert status["lastGoodRevision"] == f"main@sha1:{good}"
    assert condition(status, "RolledBack").get("status") == "True"
    assert "spec.healthCheckExprs[0].failed is true" in str(status)
    wait_for(
        lambda: live_widget(kube, namespace)["spec"]["size"] == 1, timeout=60, what="rolled back"
    )


def test_an_expression_that_does_not_compile_applies_nothing(kube, operator, repo, namespace):
    repo.commit({"app/settings.yaml": configmap("settings", mode="on")}, "a revision")
    kube.apply(repository(namespace, repo.url))
    broken = [{**EXPRS[0], "failed": "status.conditions.exists(c, c.type == "}]
    kube.apply(application(namespace, healthCheckExprs=broken))

    ready = wait_for(
        lambda: failed_with(kube, namespace, "InvalidHealthCheck"),
        timeout=60,
        what="InvalidHealthCheck",
    )
    assert "spec.healthCheckExprs[0].failed does not compile" in ready["message"]
    assert "Syntax error" in ready["message"]
    assert get(kube, "ConfigMap", namespace, "settings") is None
    status = app_status(kube, namespace)
    assert "inventory" not in status
    assert condition(status, "Stalled").get("status") == "True"  # as Flux: not retried
    wait_for(
        lambda: any(
            e["reason"] == "InvalidHealthCheck" for e in events_for(kube, namespace, "app")
        ),
        timeout=30,
        what="the InvalidHealthCheck Event",
    )


def test_operator_wide_expressions_and_an_application_overriding_them(
    kube, operator, repo, namespace, widgets
):
    defaults = [
        {
            "apiVersion": API_VERSION,
            "kind": "Widget",
            "current": "has(self.status) && self.status.conditions.exists(c, c.status == 'True')",
        }
    ]
    sha = repo.commit(
        {"app/widget.yaml": widget(1), "app2/widget.yaml": widget(1, "w2")}, "widgets"
    )
    kube.apply(repository(namespace, repo.url))
    own = [{"apiVersion": API_VERSION, "kind": "Widget", "current": "true"}]
    with operator_with(operator, GITOPS_HEALTH_CHECK_EXPRS=json.dumps(defaults)):
        kube.apply(application(namespace, name="overrides", path="app2", healthCheckExprs=own))
        kube.apply(application(namespace, name="defaults"))
        # the Application's own entry replaces the operator-wide one: Healthy at once
        wait_for(
            lambda: synced_to(kube, namespace, sha, name="overrides"),
            timeout=60,
            what="the Application's own expression",
        )
        time.sleep(3)
        status = get_status(kube, "Application", namespace, "defaults")
        assert status.get("health") == "Progressing"
        assert "GITOPS_HEALTH_CHECK_EXPRS[0].current" in condition(status)["message"]
