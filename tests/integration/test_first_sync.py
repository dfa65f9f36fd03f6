"""First vertical slice: Git over smart HTTP to the cluster under our field manager."""

from __future__ import annotations

from gitops_operator.api import API_VERSION
from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef

from .support import (
    GitRepo,
    Operator,
    apply_yaml,
    condition,
    events_with,
    get_status,
    wait_for,
)

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: {color}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
"""


def sources(
    namespace: str, url: str, *, path: str = "app", interval: str = "2s", name: str = "app"
) -> str:
    return f"""\
apiVersion: {API_VERSION}
kind: GitRepository
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  url: {url}
  ref: {{branch: main}}
  interval: {interval}
---
apiVersion: {API_VERSION}
kind: Application
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  sourceRef: {{name: {name}}}
  path: {path}
"""


def applied_revision(kube: KubeClient, namespace: str, name: str = "app") -> str | None:
    status = get_status(kube, "Application", namespace, name)
    if condition(status).get("status") == "True":
        return status.get("lastAppliedRevision")
    return None


def test_commit_reaches_the_cluster_and_a_new_commit_follows(
    kube: KubeClient, operator: Operator, repo: GitRepo, namespace: str
):
    first = repo.commit(
        {"app/config.yaml": CONFIGMAP.format(color="blue"), "app/web.yaml": DEPLOYMENT}, "first"
    )
    apply_yaml(kube, sources(namespace, repo.url))

    revision = wait_for(
        lambda: applied_revision(kube, namespace), timeout=60, what="the first revision applied"
    )
    assert revision == f"main@sha1:{first}"
    repo_status = get_status(kube, "GitRepository", namespace, "app")
    assert repo_status["artifact"]["sha"] == first
    assert repo_status["artifact"]["message"] == "first"
    assert condition(repo_status)["status"] == "True"

    cm = kube.get("v1", ObjectRef("", "ConfigMap", namespace, "settings"))
    assert cm is not None and cm["data"] == {"color": "blue"}
    managers = {f["manager"] for f in cm["metadata"]["managedFields"]}
    assert managers == {"gitops-operator"}
    assert {f["operation"] for f in cm["metadata"]["managedFields"]} == {"Apply"}

    app_status = get_status(kube, "Application", namespace, "app")
    assert app_status["sync"] == "Synced"
    assert app_status["observedGeneration"] == 1
    ids = {e["id"] for e in app_status["inventory"]["entries"]}
    assert ids == {f"{namespace}_settings__ConfigMap", f"{namespace}_web_apps_Deployment"}

    second = repo.commit({"app/config.yaml": CONFIGMAP.format(color="green")}, "second")
    wait_for(
        lambda: applied_revision(kube, namespace) == f"main@sha1:{second}",
        timeout=30,
        what="the second revision applied within the 2s interval",
    )
    cm = kube.get("v1", ObjectRef("", "ConfigMap", namespace, "settings"))
    assert cm is not None and cm["data"] == {"color": "green"}
    assert events_with(kube, namespace, "app", "ReconciliationSucceeded")


def test_removed_file_is_pruned(
    kube: KubeClient, operator: Operator, repo: GitRepo, namespace: str
):
    repo.commit({"app/config.yaml": CONFIGMAP.format(color="blue"), "app/web.yaml": DEPLOYMENT})
    apply_yaml(kube, sources(namespace, repo.url))
    wait_for(lambda: applied_revision(kube, namespace), timeout=60, what="first sync")
    sha = repo.commit({"app/config.yaml": None}, "drop the config map")
    wait_for(
        lambda: applied_revision(kube, namespace) == f"main@sha1:{sha}",
        timeout=30,
        what="the pruning revision applied",
    )
    assert kube.get("v1", ObjectRef("", "ConfigMap", namespace, "settings")) is None
    assert kube.get("apps/v1", ObjectRef("apps", "Deployment", namespace, "web")) is not None
    ids = {
        e["id"] for e in get_status(kube, "Application", namespace, "app")["inventory"]["entries"]
    }
    assert ids == {f"{namespace}_web_apps_Deployment"}
