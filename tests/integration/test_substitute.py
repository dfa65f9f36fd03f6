"""spec.postBuild: variables from the spec, ConfigMaps and Secrets substituted into the
rendered objects before they are validated and applied; a change of a source syncs again
at once (the operator watches it), a missing one fails clearly and applies nothing."""

from __future__ import annotations

import base64
import json
import time

from gitops_operator.kube import KubeClient, load_api_client

from .apps import application, repository
from .support import events_for, get_status, wait_for
from .test_reconcile import failed_with, get, synced_to
from .test_tenancy import tenant

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-${ENV}
data:
  env: ${ENV}
  region: ${REGION:=eu-west-1}
  color: ${COLOR}
  password: ${PASSWORD:=none}
  literal: $${ENV}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${REPLICAS}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: main
          image: nginx:1.27
          env:
            - name: PORT
              value: "${PORT:=8080}"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: untouched
  annotations:
    kustomize.toolkit.fluxcd.io/substitute: disabled
data:
  env: ${ENV}
"""
SECRET_VALUE = "s3cr3t-9f1c2b7d"


def source(kube, kind: str, namespace: str, name: str, **data: str) -> None:
    body: dict = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    if kind == "Secret":
        body["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        body["data"] = data
    body["metadata"]["namespace"] = namespace
    kube.apply(body)


def post_build(**extra):
    return {
        "substitute": {"ENV": "prod"},
        "substituteFrom": [
            {"kind": "ConfigMap", "name": "vars"},
            {"kind": "Secret", "name": "creds"},
            {"kind": "ConfigMap", "name": "maybe", "optional": True},
        ],
        **extra,
    }


def start(kube, repo, namespace, spec=None, **extra):
    sha = repo.commit({"app/all.yaml": TEMPLATE}, "templated")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, interval="1h", postBuild=post_build(**extra), **(spec or {})))
    return sha


def data_of(kube, namespace, name):
    return (get(kube, "ConfigMap", namespace, name) or {}).get("data")


def test_variables_from_spec_configmap_and_secret_are_applied(kube, operator, repo, namespace):
    # ENV in the ConfigMap is overridden by spec.postBuild.substitute; COLOR by the
    # Secret, listed after it.
    source(kube, "ConfigMap", namespace, "vars", ENV="dev", REPLICAS="2", COLOR="blue")
    source(kube, "Secret", namespace, "creds", PASSWORD=SECRET_VALUE, COLOR="green")
    sha = start(kube, repo, namespace)

    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="applied and Ready")
    assert data_of(kube, namespace, "settings-prod") == {
        "env": "prod",
        "region": "eu-west-1",
        "color": "green",
        "password": SECRET_VALUE,
        "literal": "${ENV}",
    }
    web = get(kube, "Deployment", namespace, "web", "apps/v1")
    assert web["spec"]["replicas"] == 2  # an unquoted variable takes its YAML type
    env = web["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "PORT", "value": "8080"}]  # a quoted one stays a string
    assert data_of(kube, namespace, "untouched") == {"env": "${ENV}"}

    # a change of the ConfigMap is applied at once, though the interval is an hour
    changed = time.monotonic()
    source(kube, "ConfigMap", namespace, "vars", ENV="dev", REPLICAS="3", COLOR="blue")
    wait_for(
        lambda: get(kube, "Deployment", namespace, "web", "apps/v1")["spec"]["replicas"] == 3,
        timeout=20,
        what="replicas from the changed ConfigMap",
    )
    assert time.monotonic() - changed < 20

    # the Secret's value is in no status, Event or log line
    status = json.dumps(get_status(kube, "Application", namespace, "app"))
    events = json.dumps(events_for(kube, namespace, "app"), default=str)
    assert status and SECRET_VALUE not in status
    assert SECRET_VALUE not in events
    assert SECRET_VALUE not in operator.logs()


def test_a_missing_source_is_a_clear_error_and_nothing_is_applied(kube, operator, repo, namespace):
    source(kube, "ConfigMap", namespace, "vars", REPLICAS="1", COLOR="red")
    start(kube, repo, namespace)  # the Secret creds does not exist; the optional one neither

    cond = wait_for(
        lambda: failed_with(kube, namespace, "SubstituteSourceNotFound"),
        timeout=60,
        what="SubstituteSourceNotFound",
    )
    assert f"Secret {namespace}/creds not found" in cond["message"]
    assert "SubstituteSourceNotFound" in [e["reason"] for e in events_for(kube, namespace, "app")]
    assert get(kube, "ConfigMap", namespace, "settings-prod") is None
    assert get(kube, "Deployment", namespace, "web", "apps/v1") is None

    # created: picked up at once (the watch; the retry is 15s away), the optional one
    # still absent
    source(kube, "Secret", namespace, "creds", PASSWORD=SECRET_VALUE)
    data = wait_for(lambda: data_of(kube, namespace, "settings-prod"), timeout=8, what="applied")
    assert data["color"] == "red"


def test_strict_mode_fails_on_an_unset_variable(kube, operator, repo, namespace):
    source(kube, "ConfigMap", namespace, "vars", REPLICAS="1")  # no COLOR
    source(kube, "Secret", namespace, "creds", PASSWORD=SECRET_VALUE)
    start(kube, repo, namespace, strict=True)

    cond = wait_for(
        lambda: failed_with(kube, namespace, "SubstitutionFailed"), timeout=60, what="strict"
    )
    assert "ConfigMap/settings-${ENV} (from app/all.yaml)" in cond["message"]
    assert "COLOR have no value and no default" in cond["message"]
    assert SECRET_VALUE not in json.dumps(get_status(kube, "Application", namespace, "app"))
    assert get(kube, "Deployment", namespace, "web", "apps/v1") is None, "applied in part"

    source(kube, "ConfigMap", namespace, "vars", REPLICAS="1", COLOR="red")
    data = wait_for(lambda: data_of(kube, namespace, "settings-prod"), timeout=20, what="fixed")
    assert data["color"] == "red"


def test_a_secret_value_in_a_drifted_field_is_masked(kube, operator, repo, namespace, cluster, cli):
    source(kube, "ConfigMap", namespace, "vars", REPLICAS="1", COLOR="red")
    source(kube, "Secret", namespace, "creds", PASSWORD=SECRET_VALUE)
    sha = start(kube, repo, namespace, {"driftInterval": "2s"})
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="applied and Ready")

    # someone edits the ConfigMap that holds the substituted Secret value
    other = KubeClient(load_api_client(str(cluster.kubeconfig)), field_manager="someone")
    other.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings-prod", "namespace": namespace},
            "data": {"password": "tampered"},
        }
    )
    drift = wait_for(
        lambda: get_status(kube, "Application", namespace, "app").get("drift"),
        timeout=30,
        what="drift reported",
    )
    text = json.dumps(drift)
    assert "data.password" in text and "tampered" in text
    assert SECRET_VALUE not in text and "***" in text

    # the CLI's diff renders with the same variables, and masks the Secret's value too
    code, out = cli("diff", "app", "-o", "json")
    [changed] = json.loads(out)["objects"]
    assert code == 1 and changed["object"] == f"ConfigMap/{namespace}/settings-prod"
    assert changed["fields"][0]["path"] == "data.password"
    assert changed["fields"][0]["desired"] == "***" and SECRET_VALUE not in out


def test_sources_are_read_with_the_applications_own_rights(kube, operator, repo, namespace):
    tenant(kube, namespace)  # may manage ConfigMaps in its namespace, and read no Secret
    source(kube, "Secret", namespace, "creds", COLOR=SECRET_VALUE)
    repo.commit(
        {
            "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
            "data:\n  color: ${COLOR}\n"
        }
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(
        application(
            namespace,
            serviceAccountName="tenant",
            postBuild={"substituteFrom": [{"kind": "Secret", "name": "creds"}]},
        )
    )
    cond = wait_for(
        lambda: failed_with(kube, namespace, "SubstituteSourceNotFound"),
        timeout=60,
        what="forbidden source",
    )
    assert (
        f"Secret {namespace}/creds cannot be read with the Application's rights" in cond["message"]
    )
    assert get(kube, "ConfigMap", namespace, "a") is None
