"""Objects known in sync are not dry-run again until they change.

Counted at the API server (``apiserver_request_total``). PodTemplates are used because no
other test or controller here touches them, so every count is this test's operator's.
"""

from __future__ import annotations

import re
import ssl
import time
import urllib.request
from datetime import UTC, datetime

import yaml

from gitops_operator.api import REQUESTED_AT_ANNOTATION
from gitops_operator.kube import KubeClient, load_api_client
from gitops_operator.objects import ObjectRef

from .apps import application, repository
from .support import condition, get_status, wait_for
from .test_reconcile import synced_to

OBJECTS = 20


def podtemplate(name: str, image: str = "nginx:1.27") -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": name},
        "template": {"spec": {"containers": [{"name": "main", "image": image}]}},
    }


def podtemplate_requests(cluster) -> dict[str, float]:
    """Requests on podtemplates by verb ("APPLY dry-run" apart), all clients."""
    pki = cluster.workdir / "clusters" / cluster.name / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    with urllib.request.urlopen(f"{cluster.server()}/metrics", context=context) as response:
        text = response.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        head, _, value = line.rpartition(" ")
        labels = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if labels.get("resource") != "podtemplates" or labels.get("verb") == "WATCH":
            continue
        verb = labels["verb"] + (" dry-run" if labels.get("dry_run") else "")
        counts[verb] = counts.get(verb, 0.0) + float(value)
    return counts


def delta(after: dict[str, float], before: dict[str, float], verb: str) -> float:
    return after.get(verb, 0.0) - before.get(verb, 0.0)


def test_unchanged_objects_are_not_dry_run_again_and_an_edit_is_still_drift(
    kube, operator, repo, namespace, cluster
):
    files = {f"app/pt-{i}.yaml": yaml.safe_dump(podtemplate(f"pt-{i}")) for i in range(OBJECTS)}
    sha = repo.commit(files)
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, driftInterval="1s"))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")

    before = podtemplate_requests(cluster)
    stamp = datetime.now(UTC).isoformat()
    kube.patch(
        "gitops-operator.dev/v1alpha1",
        ObjectRef("gitops-operator.dev", "Application", namespace, "app"),
        {"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: stamp}}},
    )
    wait_for(
        lambda: (
            get_status(kube, "Application", namespace, "app").get("lastHandledReconcileAt") == stamp
        ),
        timeout=30,
        what="the requested reconcile",
    )
    time.sleep(3)  # three more drift checks (driftInterval 1s)
    after = podtemplate_requests(cluster)
    assert delta(after, before, "APPLY dry-run") == 0, "nothing changed: nothing is dry-run"
    assert delta(after, before, "APPLY") == 0, "nor written"
    assert delta(after, before, "LIST") >= 2, "read with one LIST per pass, not a GET each"
    assert delta(after, before, "GET") == 0
    status = get_status(kube, "Application", namespace, "app")
    assert condition(status, "Drifted").get("status") == "False"

    someone = KubeClient(load_api_client(str(cluster.kubeconfig)), field_manager="someone")
    edited = podtemplate("pt-7", image="nginx:1.28")
    edited["metadata"]["namespace"] = namespace
    someone.apply(edited)
    status = wait_for(
        lambda: (
            (s := get_status(kube, "Application", namespace, "app"))
            and condition(s, "Drifted").get("status") == "True"
            and s
        ),
        timeout=30,
        what="the edit reported as drift",
    )
    [entry] = status["drift"]
    assert entry["object"] == f"PodTemplate/{namespace}/pt-7"
    assert entry["fields"][0]["live"] == '"nginx:1.28"'
    changed = podtemplate_requests(cluster)
    assert delta(changed, after, "APPLY dry-run") >= 1, "the edited object is dry-run again"
