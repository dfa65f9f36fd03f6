"""spec.dependsOn entries that name any object (apiVersion, kind, name), ready by existing,
by health (ready: true) or by a CEL expression (readyExpr), read as the Application's
ServiceAccount."""

from __future__ import annotations

import time

from .apps import application, configmap, repository
from .support import condition, events_with, get_status, wait_for
from .test_bad_input import ready_false
from .test_reconcile import get, synced_to
from .test_tenancy import tenant

FLAG = {"apiVersion": "v1", "kind": "ConfigMap", "name": "flag"}


def flag(namespace: str, ready: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "flag", "namespace": namespace},
        "data": {"ready": ready},
    }


def waiting_for(kube, namespace: str, text: str, name: str = "app"):
    cond = ready_false(kube, "Application", namespace, name, "DependencyNotReady")
    return cond if cond and text in cond["message"] else None


def test_waits_for_an_object_until_its_expression_is_true(kube, operator, repo, namespace, cli):
    sha = repo.commit({"app/cm.yaml": configmap("app", v="1")}, "app")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, dependsOn=[{**FLAG, "readyExpr": 'data.ready == "yes"'}]))

    cond = wait_for(lambda: waiting_for(kube, namespace, "not found"), timeout=60, what="not found")
    assert f"ConfigMap {namespace}/flag (v1): not found" in cond["message"]
    assert events_with(kube, namespace, "app", "DependencyNotReady")
    kube.apply(flag(namespace, "no"))
    wait_for(
        lambda: waiting_for(kube, namespace, "readyExpr 'data.ready == \"yes\"' is false"),
        timeout=30,
        what="expression false",
    )
    assert get(kube, "ConfigMap", namespace, "app") is None, "applied before its dependency"
    code, out = cli("status", "app")
    assert code == 0 and "Waiting for:" in out and f"ConfigMap {namespace}/flag" in out

    kube.apply(flag(namespace, "yes"))
    ready_at = time.monotonic()
    wait_for(lambda: get(kube, "ConfigMap", namespace, "app"), timeout=30, what="applied")
    delay = time.monotonic() - ready_at
    print(f"object dependency ready -> applied: {delay:.2f}s")
    assert delay < 5, "woken by the watch of the object, not by the 30 s recheck"
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=30, what="synced")


def test_ready_true_waits_for_health_and_a_missing_kind_is_reported(
    kube, operator, repo, namespace
):
    repo.commit({"app/cm.yaml": configmap("app")}, "app")
    kube.apply(repository(namespace, repo.url))
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w"}
    kube.apply(application(namespace, dependsOn=[{**widget, "ready": True}]))
    cond = wait_for(
        lambda: waiting_for(kube, namespace, "no API resource serves this kind"),
        timeout=60,
        what="unknown kind",
    )
    assert f"Widget {namespace}/w (example.com/v1)" in cond["message"]
    assert get(kube, "ConfigMap", namespace, "app") is None


def test_an_object_the_tenant_may_not_read_is_reported_as_forbidden(
    kube, operator, repo, namespace
):
    tenant(kube, namespace)  # may manage ConfigMaps, may not read Secrets
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hidden", "namespace": namespace},
            "stringData": {"ready": "yes"},
        }
    )
    repo.commit({"app/cm.yaml": configmap("app")}, "app")
    kube.apply(repository(namespace, repo.url))
    secret = {"apiVersion": "v1", "kind": "Secret", "name": "hidden"}
    kube.apply(application(namespace, serviceAccountName="tenant", dependsOn=[secret]))
    cond = wait_for(lambda: waiting_for(kube, namespace, "forbidden"), timeout=60, what="forbidden")
    assert (
        f"Secret {namespace}/hidden (v1): forbidden: this Application's ServiceAccount"
        " may not read it" in cond["message"]
    )
    assert get(kube, "ConfigMap", namespace, "app") is None


def test_an_expression_that_does_not_compile_is_refused(kube, operator, repo, namespace):
    repo.commit({"app/cm.yaml": configmap("app")}, "app")
    kube.apply(repository(namespace, repo.url))
    kube.apply(flag(namespace, "yes"))
    kube.apply(application(namespace, dependsOn=[{**FLAG, "readyExpr": "data.ready =="}]))
    cond = wait_for(
        lambda: ready_false(kube, "Application", namespace, "app", "InvalidDependency"),
        timeout=60,
        what="InvalidDependency",
    )
    assert cond["message"].startswith("spec.dependsOn[0].readyExpr does not compile")
    assert condition(get_status(kube, "Application", namespace, "app"), "Stalled")["status"] == (
        "True"
    )
    assert events_with(kube, namespace, "app", "InvalidDependency")
    assert get(kube, "ConfigMap", namespace, "app") is None
