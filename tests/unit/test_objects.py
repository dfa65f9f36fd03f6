import pytest

from gitops_operator.errors import RenderError
from gitops_operator.objects import ObjectRef, load_manifests, sort_for_apply

MULTI = """
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: ns}
---
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Service, metadata: {name: s}}
  - {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}
"""


def test_multi_document_files_and_lists_are_expanded():
    refs = [str(m.ref) for m in load_manifests(MULTI, "app.yaml")]
    assert refs == ["ConfigMap/ns/a", "Service/s", "Deployment/d"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [", "invalid YAML"),
        ("- just\n- a list\n", "expected a Kubernetes object"),
        ("foo: bar\n", "apiVersion and kind required"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "no metadata.name"),
    ],
)
def test_documents_that_are_not_objects_name_the_file(text, message):
    with pytest.raises(RenderError, match=message) as err:
        load_manifests(text, "dir/bad.yaml")
    assert "dir/bad.yaml" in str(err.value)


def test_inventory_id_round_trips():
    ref = ObjectRef("apps", "Deployment", "ns", "web")
    assert ref.id == "ns_web_apps_Deployment"
    assert ObjectRef.from_id(ref.id) == ref
    cluster = ObjectRef("", "Namespace", "", "ns")
    assert ObjectRef.from_id(cluster.id) == cluster


def test_crds_and_namespaces_are_applied_first():
    text = "\n---\n".join(
        f"apiVersion: {v}\nkind: {k}\nmetadata: {{name: x{i}}}"
        for i, (v, k) in enumerate(
            [
                ("apps/v1", "Deployment"),
                ("v1", "Namespace"),
                ("v1", "ConfigMap"),
                ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
                ("example.com/v1", "Widget"),
            ]
        )
    )
    kinds = [m.ref.kind for m in sort_for_apply(load_manifests(text, "f"))]
    assert kinds == ["CustomResourceDefinition", "Namespace", "ConfigMap", "Deployment", "Widget"]


ARGO_HOOK = """
apiVersion: batch/v1
kind: Job
metadata:
  generateName: db-migrate-
  annotations: {argocd.argoproj.io/hook: PreSync}
spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: busybox}]}}}
"""


def test_object_with_only_generate_name_is_refused_as_an_unsupported_hook():
    with pytest.raises(RenderError) as err:
        load_manifests(CM_A + "---" + ARGO_HOOK, "app/migrate.yaml")
    message = str(err.value)
    assert err.value.reason == "GenerateNameNotSupported"
    assert "app/migrate.yaml (document 2): Job with generateName 'db-migrate-'" in message
    assert "argocd.argoproj.io/hook: PreSync" in message
    assert "hooks with generateName are not supported" in message
    assert "no metadata.name" in message


def test_every_generate_name_object_is_named_in_one_message():
    post_sync = ARGO_HOOK.replace("db-migrate-", "smoke-").replace("PreSync", "PostSync")
    helm_hook = ARGO_HOOK.replace("db-migrate-", "init-").replace(
        "argocd.argoproj.io/hook: PreSync", "helm.sh/hook: pre-install"
    )
    with pytest.raises(RenderError) as err:
        load_manifests("---".join([ARGO_HOOK, post_sync, helm_hook]), "hooks.yaml")
    message = str(err.value)
    assert message.startswith("3 objects with metadata.generateName")
    for fragment in ("'db-migrate-'", "'smoke-'", "PostSync", "helm.sh/hook: pre-install"):
        assert fragment in message


def test_a_broken_document_is_reported_before_generate_name_objects():
    with pytest.raises(RenderError) as err:
        load_manifests(ARGO_HOOK + "---\nfoo: bar\n", "app/mixed.yaml")
    assert err.value.reason == "RenderFailed"
    assert "apiVersion and kind required" in str(err.value)
    assert "generateName" not in str(err.value)


def test_a_huge_generate_name_does_not_make_a_huge_message():
    with pytest.raises(RenderError) as err:
        load_manifests(ARGO_HOOK.replace("db-migrate-", "x" * 100_000), "big.yaml")
    assert len(str(err.value)) < 1000


CM_A = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
