"""Real-world Helm charts on the real control plane: templates see the destination
cluster's Kubernetes and API versions, and dependencies come from a real chart
repository served on 127.0.0.1 (behind basic auth for the credentials case)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import yaml

from gitops_operator.objects import ObjectRef
from gitops_operator.render.chart_deps import lock_digest

from .apps import application, repository
from .charts import ChartRepository, helm, oci_registry, registry_binary, write_chart
from .support import events_for, get_status, wait_for
from .test_bad_input import ready_false
from .test_reconcile import synced_to
from .test_tenancy import operator_with

CAPABILITIES_CHART = 'apiVersion: v2\nname: caps\nversion: 1.0.0\nkubeVersion: ">=1.23.0-0"\n'
CAPABILITIES_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: capabilities
data:
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  recent: {{ semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version | quote }}
  hpa: {{ .Capabilities.APIVersions.Has "autoscaling/v2" | quote }}
  crd: {{ .Capabilities.APIVersions.Has "gitops-operator.dev/v1alpha1/Application" | quote }}
  extra: {{ .Capabilities.APIVersions.Has "example.com/v1" | quote }}
"""


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartRepository]:
    with ChartRepository(tmp_path_factory.mktemp("charts") / "public") as served:
        served.publish("redis", "1.0.0", "one")
        served.publish("redis", "1.1.0", "eleven")
        yield served


@pytest.fixture(scope="module")
def private_charts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartRepository]:
    root = tmp_path_factory.mktemp("charts") / "private"
    with ChartRepository(root, username="reader", password="chart-s3cret") as served:
        served.publish("vault", "2.0.0", "private")
        yield served


@pytest.fixture(scope="module")
def chart_operator(operator, charts, private_charts):
    """The operator with 127.0.0.1 (any port) on its chart repository allow-list."""
    with operator_with(operator, GITOPS_CHART_REPOSITORY_HOSTS="127.0.0.1") as custom:
        yield custom


def chart_files(dependencies: list[dict], lock_versions: list[str] | None = None) -> dict:
    chart = {"apiVersion": "v2", "name": "app", "version": "1.0.0"}
    files = {
        "app/Chart.yaml": yaml.safe_dump({**chart, "dependencies": dependencies}),
        "app/templates/cm.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-own\n"
        ),
    }
    if lock_versions is not None:
        locked = [
            {"name": d["name"], "repository": d["repository"], "version": v}
            for d, v in zip(dependencies, lock_versions, strict=True)
        ]
        lock = {"dependencies": locked, "digest": lock_digest(dependencies, locked)}
        files["app/Chart.lock"] = yaml.safe_dump(lock)
    return files


def configmap(kube, namespace: str, name: str) -> dict | None:
    return kube.get("v1", ObjectRef("", "ConfigMap", namespace, name))


def test_templates_see_the_real_servers_versions_and_spec_overrides_them(
    kube, chart_operator, repo, namespace
):
    sha = repo.commit(
        {
            "app/Chart.yaml": CAPABILITIES_CHART,
            "app/templates/cm.yaml": CAPABILITIES_TEMPLATE,
        }
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=90, what="chart synced")
    data = configmap(kube, namespace, "capabilities")["data"]
    assert data == {
        "kube": kube.server_version(),
        "recent": "true",
        "hpa": "true",
        "crd": "true",
        "extra": "false",
    }
    overrides = {"helm": {"kubeVersion": "v1.25.0", "apiVersions": ["example.com/v1"]}}
    kube.apply(application(namespace, render=overrides))
    wait_for(
        lambda: configmap(kube, namespace, "capabilities")["data"]["kube"] == "v1.25.0",
        timeout=60,
        what="overrides rendered",
    )
    data = configmap(kube, namespace, "capabilities")["data"]
    assert (data["recent"], data["crd"], data["extra"]) == ("false", "false", "true")


def test_a_dependency_from_a_chart_repository_syncs(kube, chart_operator, charts, repo, namespace):
    deps = [{"name": "redis", "version": "^1.0.0", "repository": charts.url}]
    sha = repo.commit(chart_files(deps, lock_versions=["1.0.0"]))
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=90, what="chart synced")
    assert configmap(kube, namespace, "app-redis")["data"] == {"version": "1.0.0", "value": "one"}
    assert configmap(kube, namespace, "app-own") is not None


def test_a_private_repository_uses_the_secret_named_in_the_application(
    kube, chart_operator, private_charts, repo, namespace
):
    deps = [{"name": "vault", "version": "2.0.0", "repository": private_charts.url}]
    sha = repo.commit(chart_files(deps))
    kube.apply(repository(namespace, repo.url))
    helm = {"repositories": [{"url": private_charts.url, "secretRef": {"name": "charts"}}]}
    kube.apply(application(namespace, render={"helm": helm}))
    cond = wait_for(
        lambda: ready_false(kube, "Application", namespace, "app", "SecretNotFound"),
        timeout=60,
        what="missing Secret reported",
    )
    assert "charts" in cond["message"]

    def encoded(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "charts", "namespace": namespace},
        "data": {"username": encoded("reader"), "password": encoded("chart-s3cret")},
    }
    kube.apply(secret)
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=120, what="private chart synced")
    assert configmap(kube, namespace, "app-vault")["data"]["value"] == "private"
    for event in events_for(kube, namespace, "app"):
        assert "chart-s3cret" not in str(event.get("message"))


def test_a_host_off_the_allow_list_is_refused_and_nothing_is_applied(
    kube, chart_operator, charts, repo, namespace
):
    elsewhere = charts.url.replace("127.0.0.1", "localhost")  # reachable, not allowed
    deps = [{"name": "redis", "version": "1.0.0", "repository": elsewhere}]
    repo.commit(chart_files(deps))
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    cond = wait_for(
        lambda: ready_false(kube, "Application", namespace, "app", "ChartRepositoryNotAllowed"),
        timeout=60,
        what="host refused",
    )
    assert f"redis 1.0.0 from {elsewhere}" in cond["message"]
    wait_for(
        lambda: any(
            e["reason"] == "ChartRepositoryNotAllowed" for e in events_for(kube, namespace, "app")
        ),
        timeout=30,
        what="Event",
    )
    assert configmap(kube, namespace, "app-own") is None, "nothing applied"
    assert not get_status(kube, "Application", namespace, "app").get("inventory", {}).get("entries")


def test_a_lock_out_of_date_with_the_chart_is_refused(
    kube, chart_operator, charts, repo, namespace
):
    deps = [{"name": "redis", "version": "1.0.0", "repository": charts.url}]
    files = chart_files(deps, lock_versions=["1.0.0"])
    edited = yaml.safe_load(files["app/Chart.yaml"])
    edited["dependencies"][0]["version"] = "1.1.0"  # Chart.yaml changed, lock not updated
    files["app/Chart.yaml"] = yaml.safe_dump(edited)
    repo.commit(files)
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    cond = wait_for(
        lambda: ready_false(kube, "Application", namespace, "app", "ChartLockOutOfDate"),
        timeout=60,
        what="stale lock refused",
    )
    assert "app/Chart.lock" in cond["message"]
    assert configmap(kube, namespace, "app-redis") is None, "nothing applied"


def test_a_dependency_from_an_oci_registry_syncs(
    kube, chart_operator, repo, namespace, tmp_path_factory
):
    if registry_binary() is None:
        pytest.skip("the distribution registry is not built (run hack/build-binaries.sh)")
    work = tmp_path_factory.mktemp("oci")
    with oci_registry(work / "registry") as host:
        chart = write_chart(work / "src", "cache", "3.1.0", "from-oci")
        helm("package", str(chart), "--destination", str(work), home=work / "helm")
        archive = str(work / "cache-3.1.0.tgz")
        helm("push", archive, f"oci://{host}/charts", "--plain-http", home=work / "helm")
        deps = [{"name": "cache", "version": "3.1.0", "repository": f"oci://{host}/charts"}]
        sha = repo.commit(chart_files(deps, lock_versions=["3.1.0"]))
        kube.apply(repository(namespace, repo.url))
        helm_spec = {"repositories": [{"url": f"oci://{host}", "plainHTTP": True}]}
        kube.apply(application(namespace, render={"helm": helm_spec}))
        wait_for(lambda: synced_to(kube, namespace, sha), timeout=90, what="OCI chart synced")
    assert configmap(kube, namespace, "app-cache")["data"]["value"] == "from-oci"
