"""A monorepo: a commit that changes none of an Application's render inputs is not
rendered or applied for it; one that changes any file its render reads is."""

from __future__ import annotations

import yaml

from gitops_operator.api import API_VERSION, REQUESTED_AT_ANNOTATION

from .apps import application, configmap, repository
from .support import condition, custom, get_status, wait_for
from .test_drift_watches import samples
from .test_reconcile import get

NEXT_PASS = "15s"
"""driftInterval: an Application a commit does not wake takes it at its next pass."""


def kustomization(*resources: str) -> str:
    return yaml.safe_dump({"resources": list(resources)})


FILES = {
    "apps/a/cm.yaml": configmap("a-settings", color="blue"),
    "apps/b/kustomization.yaml": kustomization("../../shared/base", "cm.yaml"),
    "apps/b/cm.yaml": configmap("b-settings", size="small"),
    "shared/base/kustomization.yaml": kustomization("shared.yaml"),
    "shared/base/shared.yaml": configmap("b-shared", tier="one"),
    "docs/README.md": "the platform's apps\n",
}


def applied(kube, namespace: str, name: str) -> str:
    return str(get_status(kube, "Application", namespace, name).get("lastAppliedRevision", ""))


def unaffected(kube, namespace: str, name: str) -> dict:
    return get_status(kube, "Application", namespace, name).get("unaffectedRevision") or {}


def wakeups(operator, result: str) -> float:
    return sum(
        s.value
        for s in samples(operator, "gitops_revision_wakeups")
        if s.name.endswith("_total") and s.labels.get("result") == result
    )


def test_a_commit_to_one_app_leaves_the_others_unrendered(kube, operator, repo, namespace, cli):
    first = repo.commit(FILES, "two apps")
    kube.apply(repository(namespace, repo.url))
    for name in ("a", "b"):
        kube.apply(application(namespace, name=name, path=f"apps/{name}", driftInterval=NEXT_PASS))
    for name in ("a", "b"):
        wait_for(
            lambda name=name: applied(kube, namespace, name) == f"main@sha1:{first}",
            timeout=60,
            what=f"{name} synced",
        )
    b_history = len(get_status(kube, "Application", namespace, "b").get("history") or [])
    b_version = get(kube, "ConfigMap", namespace, "b-settings")["metadata"]["resourceVersion"]

    # a's own file and a file nobody renders: b takes the revision without a render, and
    # is not even woken for it (it takes it at its next pass)
    left_alone = wakeups(operator, "unaffected")
    second = repo.commit(
        {"apps/a/cm.yaml": configmap("a-settings", color="green"), "docs/README.md": "more\n"}
    )
    wait_for(
        lambda: applied(kube, namespace, "a") == f"main@sha1:{second}", timeout=60, what="a synced"
    )
    assert wakeups(operator, "unaffected") >= left_alone + 1
    record = wait_for(
        lambda: (
            unaffected(kube, namespace, "b").get("revision") == f"main@sha1:{second}"
            and unaffected(kube, namespace, "b")
        ),
        timeout=60,
        what="b records the revision as changing nothing for it",
    )
    assert record["appliedRevision"] == f"main@sha1:{first}"
    b = get_status(kube, "Application", namespace, "b")
    assert b["lastAppliedRevision"] == f"main@sha1:{first}"
    assert len(b.get("history") or []) == b_history
    assert condition(b)["status"] == "True"
    assert "changes none of its inputs" in condition(b)["message"]
    assert (
        get(kube, "ConfigMap", namespace, "b-settings")["metadata"]["resourceVersion"] == b_version
    )
    assert get(kube, "ConfigMap", namespace, "a-settings")["data"] == {"color": "green"}
    code, shown = cli("status", "b")
    assert code == 0
    assert f"main@sha1:{second} (changes none of its inputs)" in shown

    # a file b reaches only through its kustomization's ../../shared/base: b renders
    third = repo.commit({"shared/base/shared.yaml": configmap("b-shared", tier="two")})
    wait_for(
        lambda: applied(kube, namespace, "b") == f"main@sha1:{third}", timeout=60, what="b synced"
    )
    assert get(kube, "ConfigMap", namespace, "b-shared")["data"] == {"tier": "two"}
    wait_for(
        lambda: unaffected(kube, namespace, "a").get("revision") == f"main@sha1:{third}",
        timeout=60,
        what="a records the shared change as nothing for it",
    )
    assert applied(kube, namespace, "a") == f"main@sha1:{second}"


def test_a_sync_request_renders_even_an_unaffected_revision(kube, operator, repo, namespace):
    first = repo.commit(FILES, "two apps")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, name="a", path="apps/a", driftInterval=NEXT_PASS))
    wait_for(
        lambda: applied(kube, namespace, "a") == f"main@sha1:{first}", timeout=60, what="a synced"
    )
    second = repo.commit({"docs/README.md": "only docs\n"})
    wait_for(
        lambda: unaffected(kube, namespace, "a").get("revision") == f"main@sha1:{second}",
        timeout=60,
        what="a skips the docs commit",
    )
    kube.patch(
        API_VERSION,
        custom("Application", namespace, "a"),
        {"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: "now-1"}}},
    )
    wait_for(
        lambda: applied(kube, namespace, "a") == f"main@sha1:{second}",
        timeout=60,
        what="a synced on request",
    )
