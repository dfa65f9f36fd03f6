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
