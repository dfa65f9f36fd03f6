"""spec.dependsOn: an Application applies a new revision only once the Applications it
depends on are Ready; it is woken when they are, and a cycle is reported, not waited on."""

from __future__ import annotations

import time

from .apps import application, configmap, deployment, repository
from .support import condition, events_with, get_status, wait_for
from .test_reconcile import get, synced_to


def app_status(kube, namespace, name):
    return get_status(kube, "Application", namespace, name)


def test_a_chain_created_in_reverse_order_becomes_ready_in_order(
    kube, operator, repo, namespace, cli
):
    sha = repo.commit(
        {
            "db/cm.yaml": configmap("db"),
            "api/cm.yaml": configmap("api"),
            "web/web.yaml": deployment("web"),
        },
        "three layers",
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, "web", path="web", dependsOn=[{"name": "api"}]))
    kube.apply(application(namespace, "api", path="api", dependsOn=[{"name": "db"}]))

    def waiting(name, on):
        ready = condition(app_status(kube, namespace, name))
        return ready.get("reason") == "DependencyNotReady" and f"/{on}:" in ready["message"]

    wait_for(lambda: waiting("api", "db"), timeout=60, what="api waiting for db")
    wait_for(lambda: waiting("web", "api"), timeout=60, what="web waiting for api")
    assert get(kube, "ConfigMap", namespace, "api") is None, "applied before its dependency"
    assert "not found" in condition(app_status(kube, namespace, "api"))["message"]
    code, out = cli("status", "api")
    assert code == 0
    assert f"{namespace}/db (not found)" in out
    assert "Waiting for:" in out

    kube.apply(application(namespace, "db", path="db"))
    for name in ("db", "api", "web"):
        wait_for(lambda n=name: synced_to(kube, namespace, sha, n), timeout=60, what=name)
    applied = {n: app_status(kube, namespace, n)["lastAppliedAt"] for n in ("db", "api", "web")}
    ready_at = {
        n: condition(app_status(kube, namespace, n))["lastTransitionTime"]
        for n in ("db", "api", "web")
    }
    assert ready_at["db"] <= applied["api"] and ready_at["api"] <= applied["web"]
    assert events_with(kube, namespace, "web", "DependencyNotReady")


def test_a_cycle_is_reported_on_every_member(kube, operator, repo, namespace):
    repo.commit({"a/cm.yaml": configmap("a"), "b/cm.yaml": configmap("b")}, "two")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, "a", path="a", dependsOn=[{"name": "b"}]))
    kube.apply(application(namespace, "b", path="b", dependsOn=[{"name": "a"}]))
    for name in ("a", "b"):
        cond = wait_for(
            lambda n=name: condition(app_status(kube, namespace, n), "Stalled") or None,
            timeout=60,
            what=f"{name} stalled",
        )
        assert cond["reason"] == "DependencyCycle"
        assert (
            f"Application {namespace}/a -> Application {namespace}/b" in cond["message"]
            or f"Application {namespace}/b -> Application {namespace}/a" in cond["message"]
        )
    assert get(kube, "ConfigMap", namespace, "a") is None
    assert get(kube, "ConfigMap", namespace, "b") is None


def test_a_dependency_that_is_not_ready_holds_new_revisions(kube, operator, repo, namespace):
    first = repo.commit(
        {"db/web.yaml": deployment("db"), "app/cm.yaml": configmap("app", v="1")}, "first"
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, "db", path="db", healthTimeout="5m"))
    kube.apply(application(namespace, "app", path="app", dependsOn=[{"name": "db"}]))
    for name in ("db", "app"):
        wait_for(lambda n=name: synced_to(kube, namespace, first, n), timeout=60, what=name)

    # the dependency's next revision never becomes healthy; the dependent's changes wait
    second = repo.commit(
        {
            "db/web.yaml": deployment("db", never_ready=True),
            "app/cm.yaml": configmap("app", v="2"),
        },
        "second",
    )
    wait_for(
        lambda: (
            app_status(kube, namespace, "db").get("lastAppliedRevision") == f"main@sha1:{second}"
        ),
        timeout=60,
        what="db applying the second revision",
    )
    wait_for(
        lambda: condition(app_status(kube, namespace, "app")).get("reason") == "DependencyNotReady",
        timeout=60,
        what="app waiting for db",
    )
    time.sleep(3)
    assert get(kube, "ConfigMap", namespace, "app")["data"] == {"v": "1"}
    assert app_status(kube, namespace, "app")["lastAppliedRevision"] == f"main@sha1:{first}"
