"""Bad input never crashes the operator; status and an Event say what is wrong."""

from __future__ import annotations

from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef

from .support import GitRepo, Operator, apply_yaml, condition, events_for, get_status, wait_for
from .test_first_sync import CONFIGMAP, applied_revision, sources


def ready_false(kube: KubeClient, kind: str, namespace: str, name: str = "app", reason: str = ""):
    """The Ready condition when it is False (with ``reason``, if given)."""
    cond = condition(get_status(kube, kind, namespace, name))
    if cond.get("status") == "False" and cond.get("reason", "") == (reason or cond.get("reason")):
        return cond
    return None


def test_unreachable_repository_is_reported_and_others_keep_syncing(
    kube: KubeClient, operator: Operator, repo: GitRepo, namespace: str
):
    apply_yaml(kube, sources(namespace, "http://127.0.0.1:9/nowhere.git", name="broken"))
    repo.commit({"app/config.yaml": CONFIGMAP.format(color="red")})
    apply_yaml(kube, sources(namespace, repo.url, name="healthy"))

    cond = wait_for(
        lambda: ready_false(kube, "GitRepository", namespace, "broken", "GitOperationFailed"),
        timeout=30,
        what="Ready=False on the unreachable repository",
    )
    assert cond["reason"] == "GitOperationFailed"
    assert "127.0.0.1" in cond["message"] and "Failed to connect" in cond["message"]
    wait_for(
        lambda: any(
            e["reason"] == "GitOperationFailed" and e["type"] == "Warning"
            for e in events_for(kube, namespace, "broken")
        ),
        what="a Warning Event on the repository",
    )
    app = wait_for(
        lambda: ready_false(kube, "Application", namespace, "broken", "SourceNotReady"),
        timeout=30,
        what="the dependent application waiting for its source",
    )
    assert app["reason"] == "SourceNotReady"

    wait_for(
        lambda: applied_revision(kube, namespace, "healthy"),
        timeout=60,
        what="the healthy application to sync meanwhile",
    )
    assert operator.alive


def test_object_refused_by_the_api_server_applies_nothing(
    kube: KubeClient, operator: Operator, repo: GitRepo, namespace: str
):
    bad = CONFIGMAP.format(color="x").replace("name: settings", "name: Not_A_Valid_Name")
    repo.commit({"app/good.yaml": CONFIGMAP.format(color="blue"), "app/bad.yaml": bad})
    apply_yaml(kube, sources(namespace, repo.url))
    cond = wait_for(
        lambda: ready_false(kube, "Application", namespace, reason="DryRunFailed"),
        timeout=60,
        what="Ready=False after the dry-run refusal",
    )
    assert cond["reason"] == "DryRunFailed"
    assert "ConfigMap/" in cond["message"] and "Not_A_Valid_Name" in cond["message"]
    assert "nothing applied" in cond["message"]
    assert kube.get("v1", ObjectRef("", "ConfigMap", namespace, "settings")) is None
    stalled = condition(get_status(kube, "Application", namespace, "app"), "Stalled")
    assert stalled.get("status") == "True"
    wait_for(
        lambda: any(e["reason"] == "DryRunFailed" for e in events_for(kube, namespace, "app")),
        what="a DryRunFailed Event",
    )
    assert operator.alive


def test_missing_source_and_bad_path_are_reported(
    kube: KubeClient, operator: Operator, repo: GitRepo, namespace: str
):
    repo.commit({"app/config.yaml": CONFIGMAP.format(color="blue")})
    apply_yaml(kube, sources(namespace, repo.url, path="../../etc"))
    cond = wait_for(
        lambda: ready_false(kube, "Application", namespace, reason="PathOutsideRepository"),
        timeout=60,
        what="Ready=False for a path outside the repository",
    )
    assert "spec.path" in cond["message"]
    assert operator.alive


def test_an_application_created_before_its_source_writes_nothing_while_it_waits(
    kube: KubeClient, operator: Operator, repo: GitRepo, namespace: str
):
    from .test_metrics import scrape

    def waiting_passes() -> float:
        samples = scrape(operator).get("gitops_reconcile", [])
        return sum(
            s.value
            for s in samples
            if s.name == "gitops_reconcile_total"
            and s.labels == {"kind": "Application", "result": "waiting"}
        )

    repo.commit({"app/config.yaml": CONFIGMAP.format(color="green")})
    repository, application = sources(namespace, repo.url).split("---\n")
    # the operator may have started just now: its /metrics answers within seconds
    [before] = wait_for(lambda: [waiting_passes()], ignore=(OSError,), what="/metrics")
    apply_yaml(kube, application)
    wait_for(lambda: waiting_passes() > before, timeout=30, what="a pass of the new Application")
    assert get_status(kube, "Application", namespace, "app") == {}
    assert events_for(kube, namespace, "app") == []

    apply_yaml(kube, repository)
    wait_for(lambda: applied_revision(kube, namespace), timeout=60, what="the revision applied")
    reasons = {
        e["reason"]
        for e in events_for(kube, namespace, "app")
        if (e.get("involvedObject") or e.get("involved_object") or {}).get("kind") == "Application"
    }
    assert "SourceNotReady" not in reasons
