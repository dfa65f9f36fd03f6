"""/metrics is scraped and parsed with prometheus-client's own parser."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from gitops_operator.api import API_VERSION
from gitops_operator.objects import ObjectRef

from .apps import application, configmap, repository
from .support import wait_for
from .test_reconcile import synced_to


def scrape(operator) -> dict[str, list]:
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10)
        .read()
        .decode()
    )
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def app_info(operator, namespace):
    return [
        s
        for s in scrape(operator).get("gitops_application_info", [])
        if s.labels["namespace"] == namespace
    ]


def test_metrics_describe_applications_git_and_reconciles(kube, operator, repo, namespace):
    sha = repo.commit({"app/a.yaml": configmap("a"), "app/b.yaml": configmap("b")})
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")
    [info] = wait_for(
        lambda: [
            s for s in app_info(operator, namespace) if s.labels["health_status"] == "Healthy"
        ],
        timeout=30,
        what="the info series",
    )
    assert info.value == 1
    assert info.labels == {
        "namespace": namespace,
        "name": "app",
        "source": "app",
        "revision": "main",  # never the SHA: /metrics has no authentication
        "sync_status": "Synced",
        "health_status": "Healthy",
    }
    families = scrape(operator)
    assert not [s for f in families.values() for s in f if sha[:12] in str(s.labels)]
    created = [
        s
        for s in families["gitops_managed_objects"]
        if s.name == "gitops_managed_objects_total"
        and s.labels == {"namespace": namespace, "name": "app", "action": "created"}
    ]
    assert created and created[0].value == 2
    git = [
        s
        for s in families["gitops_git_request_duration_seconds"]
        if s.name.endswith("_count") and s.labels["repository"] == repo.url
    ]
    assert {s.labels["request"] for s in git} == {"ls-remote", "fetch"}
    reconciles = [
        s
        for s in families["gitops_reconcile"]
        if s.name == "gitops_reconcile_total" and s.labels["kind"] == "Application"
    ]
    assert sum(s.value for s in reconciles if s.labels["result"] == "success") >= 1

    kube.delete(API_VERSION, ObjectRef("gitops-operator.dev", "Application", namespace, "app"))
    wait_for(
        lambda: not app_info(operator, namespace),
        timeout=30,
        what="the series of the deleted Application removed",
    )
