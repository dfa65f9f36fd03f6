"""The ``gitops-operator`` CLI against the real control plane and a running operator."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import yaml

from gitops_operator.api import API_VERSION, ROLLBACK_AT_ANNOTATION, ROLLBACK_TO_ANNOTATION
from gitops_operator.kube import KubeClient, load_api_client

from .apps import configmap, deployment
from .support import custom, get_status, wait_for
from .test_reconcile import start, synced_to

FILES = {"app/cm.yaml": configmap("settings", color="blue"), "app/web.yaml": deployment("web")}


def test_status_lists_applications_and_history_shows_the_sync(kube, operator, repo, namespace, cli):
    # ConfigMaps only: healthy at once, so the history entry is written by the applying pass
    # and keeps its change counts (a later health pass records none)
    sha = start(kube, repo, namespace, {**FILES, "app/web.yaml": configmap("other")})
    code, out = cli("status")
    header, row = out.splitlines()
    assert code == 0 and header.split()[:6] == [
        "NAME",
        "SOURCE",
        "REVISION",
        "SYNC",
        "HEALTH",
        "READY",
    ]
    assert row.split()[:6] == ["app", "app", f"main@sha1:{sha[:12]}", "Synced", "Healthy", "True"]
    code, out = cli("status", "-o", "json")
    [listed] = json.loads(out)
    assert listed["revision"] == f"main@sha1:{sha}" and listed["ready"] == "True"
    code, out = cli("status", "app", "-o", "yaml")
    details = yaml.safe_load(out)
    assert details["lastGoodRevision"] == f"main@sha1:{sha}" and details["inventory"] == 2
    code, out = cli("status", "app")
    assert code == 0 and "Inventory:" in out and "Conditions:" in out
    code, out = cli("history", "app")
    header, *rows = out.splitlines()
    assert header.split()[:2] == ["REVISION", "RESULT"]
    assert rows[0].split()[:2] == [f"main@sha1:{sha[:12]}", "Succeeded"]
    assert "2 created" in rows[0]
    assert cli("history", "missing") == (2, "")
    assert "Application" in cli.err and "missing" in cli.err and "not found" in cli.err


def test_diff_is_clean_in_sync_and_shows_another_managers_edit(
    kube, operator, repo, namespace, cluster, cli
):
    start(kube, repo, namespace, FILES)
    code, out = cli("diff", "app")
    assert (code, cli.err) == (0, "") and "no differences" in out
    other = KubeClient(load_api_client(str(cluster.kubeconfig)), field_manager="someone")
    other.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": {"color": "red"},
        }
    )
    code, out = cli("diff", "app")
    assert code == 1, cli.err
    assert f"~ ConfigMap/{namespace}/settings" in out
    assert '    data.color\n      desired: "blue"\n      live:    "red"' in out
    assert "Deployment" not in out
    code, out = cli("diff", "app", "-o", "json")
    [changed] = json.loads(out)["objects"]
    assert code == 1 and changed["fields"] == [
        {"path": "data.color", "pointer": "/data/color", "desired": "blue", "live": "red"}
    ]


def test_diff_shows_what_a_new_commit_would_create_and_prune(kube, operator, repo, namespace, cli):
    settings = yaml.safe_load(FILES["app/cm.yaml"])
    settings["metadata"]["labels"] = {"team": "payments"}
    start(kube, repo, namespace, {**FILES, "app/cm.yaml": yaml.safe_dump(settings)})
    operator_sees_it = custom("Application", namespace, "app")
    kube.patch(API_VERSION, operator_sees_it, {"spec": {"suspend": True}})
    settings["metadata"]["labels"]["gitops-operator.dev/tier"] = "gold"
    files = {"app/web.yaml": None, "app/new.yaml": configmap("new")}
    repo.commit({**files, "app/cm.yaml": yaml.safe_dump(settings)}, "swap")
    wait_for(
        lambda: (
            (get_status(kube, "GitRepository", namespace, "app").get("artifact") or {})
            .get("message", "")
            .startswith("swap")
        ),
        timeout=30,
        what="the new commit fetched",
    )
    code, out = cli("diff", "app")
    assert code == 1, cli.err
    assert f"+ ConfigMap/{namespace}/new (to be created)" in out
    assert f"- Deployment/{namespace}/web (to be pruned)" in out
    assert "note: the Application is suspended" in out
    assert f"~ ConfigMap/{namespace}/settings\n" in out
    assert '    metadata.labels["gitops-operator.dev/tier"]\n      desired: "gold"' in out
    assert "~1" not in out, "field paths read as people write them, not as JSON pointers"


def test_sync_echoes_the_request_and_suspend_resume_flip_the_spec(
    kube, operator, repo, namespace, cli
):
    sha = start(kube, repo, namespace, FILES)
    code, out = cli("sync", "app")
    assert code == 0, cli.err
    status = get_status(kube, "Application", namespace, "app")
    app = kube.get(API_VERSION, custom("Application", namespace, "app"))
    requested = app["metadata"]["annotations"]["gitops-operator.dev/requestedAt"]
    assert status["lastHandledReconcileAt"] == requested
    assert f"Handled at: {requested}" in out and f"Revision:   main@sha1:{sha}" in out
    code, out = cli("retry", "app", "-o", "json")
    assert code == 0 and json.loads(out)["lastHandledReconcileAt"] == json.loads(out)["requested"]
    assert "no failed revision" in cli.err
    code, out = cli("sync", "app", "--no-wait")
    assert code == 0 and out.startswith("requested reconcile of Application")

    assert cli("suspend", "app")[0] == 0
    assert kube.get(API_VERSION, custom("Application", namespace, "app"))["spec"]["suspend"] is True
    code, out = cli("status")
    assert "Suspended" in out.splitlines()[1]
    assert cli("resume", "app")[0] == 0
    assert (
        kube.get(API_VERSION, custom("Application", namespace, "app"))["spec"]["suspend"] is False
    )


def test_rollback_to_a_revision_of_the_history(kube, operator, repo, namespace, cli):
    first = start(kube, repo, namespace, {"app/cm.yaml": configmap("settings", v="1")})
    second = repo.commit({"app/cm.yaml": configmap("settings", v="2")}, "two")
    wait_for(lambda: synced_to(kube, namespace, second), timeout=60, what="second revision")
    assert cli("rollback", "app", "--to", "deadbeef")[0] == 2
    assert "'deadbeef' is not a revision in the history" in cli.err
    code, out = cli("rollback", "app", "--to", first[:10], "--timeout", "60s")
    assert code == 0, cli.err + out
    status = get_status(kube, "Application", namespace, "app")
    assert status["lastAppliedRevision"] == f"main@sha1:{first}"
    assert f"main@sha1:{first}" in out.split("Revision:")[1].splitlines()[0]
    rolled_back = [h for h in status["history"] if h.get("result") == "RolledBack"]

    # The request is a stamp beside the target as typed; answered once, a reconcile
    # does not roll back again.
    annotations = kube.get(API_VERSION, custom("Application", namespace, "app"))["metadata"][
        "annotations"
    ]
    assert annotations[ROLLBACK_TO_ANNOTATION] == first[:10]
    assert annotations[ROLLBACK_AT_ANNOTATION] == status["lastHandledRollbackAt"]
    assert cli("sync", "app", "--wait", "--timeout", "60s")[0] == 0
    again = get_status(kube, "Application", namespace, "app")
    assert [h for h in again["history"] if h.get("result") == "RolledBack"] == rolled_back

    # Asked again for the same revision: a new stamp, the same spelling, acted on.
    code, out = cli("rollback", "app", "--to", first[:10], "--timeout", "60s", "-o", "json")
    assert code == 0, cli.err + out
    status = get_status(kube, "Application", namespace, "app")
    assert status["lastHandledRollbackAt"] == json.loads(out)["requested"]
    assert status["lastHandledRollbackAt"] != annotations[ROLLBACK_AT_ANNOTATION]
    assert status["lastHandledRollbackTo"] == first[:10]


def test_diagram_draws_the_application_and_its_objects(
    kube, operator, repo, namespace, cli, tmp_path
):
    start(kube, repo, namespace, FILES)
    target = tmp_path / "app.svg"
    code, out = cli("diagram", "app", "-o", str(target))
    assert code == 0 and out == f"wrote {target} (2 objects)\n"
    root = ET.fromstring(target.read_text())  # noqa: S314 - written by the test itself
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    boxes = {
        el.get("data-object"): el.get("data-health") for el in root.iter() if el.get("data-object")
    }
    assert boxes == {
        f"ConfigMap/{namespace}/settings": "Healthy",
        f"Deployment/{namespace}/web": "Healthy",
    }
    assert repo.url.split("://", 1)[1] in target.read_text()
