"""Comparing two renders: matching by identity, noise, ignore rules, Secrets, placement."""

from __future__ import annotations

import copy

from gitops_operator.api import IgnoreRule
from gitops_operator.diff import CHANGED_MASK, MASK
from gitops_operator.objects import Manifest
from gitops_operator.render_diff import Change, compare, count, place

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "web:1"}]}}},
}


def manifests(*objs: dict) -> list[Manifest]:
    return [Manifest(copy.deepcopy(o), "test.yaml") for o in objs]


def with_(obj: dict, **changes) -> dict:
    return {**copy.deepcopy(obj), **changes}


def test_an_object_on_one_side_only_is_added_or_removed():
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    diffs = compare(manifests(DEPLOYMENT), manifests(config))
    assert [(d.ref.kind, d.change) for d in diffs] == [
        ("ConfigMap", Change.ADDED),
        ("Deployment", Change.REMOVED),
    ]
    assert diffs[1].manifest["spec"]["replicas"] == 2, "a removed object is shown as it was"
    assert count(diffs) == {Change.ADDED: 1, Change.REMOVED: 1, Change.CHANGED: 0}


def test_a_new_api_version_is_a_changed_field_not_a_replacement():
    newer = with_(DEPLOYMENT, apiVersion="apps/v2")
    [diff] = compare(manifests(DEPLOYMENT), manifests(newer))
    assert diff.change is Change.CHANGED and diff.api_version == "apps/v2"
    assert [(f.path, f.live, f.desired) for f in diff.fields] == [
        ("apiVersion", "apps/v1", "apps/v2")
    ]


def test_status_and_server_metadata_are_noise():
    noisy = with_(DEPLOYMENT, status={"replicas": 5})
    noisy["metadata"] |= {"uid": "1", "resourceVersion": "7", "generation": 3}
    assert compare(manifests(DEPLOYMENT), manifests(noisy)) == []


def test_fields_the_application_ignores_are_left_out():
    scaled = copy.deepcopy(DEPLOYMENT)
    scaled["spec"]["replicas"] = 5
    scaled["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2"
    rule = IgnoreRule(kind="Deployment", json_pointers=("/spec/replicas",))
    [diff] = compare(manifests(DEPLOYMENT), manifests(scaled), (rule,))
    assert [f.path for f in diff.fields] == ["spec.template.spec.containers[0].image"]
    other = IgnoreRule(kind="StatefulSet", json_pointers=("/spec/replicas",))
    [diff] = compare(manifests(DEPLOYMENT), manifests(scaled), (other,))
    assert [f.path for f in diff.fields] == [
        "spec.replicas",
        "spec.template.spec.containers[0].image",
    ]


def test_secret_changes_name_the_keys_and_hide_the_values():
    old = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    old |= {"data": {"same": "c2FtZQ==", "changed": "b2xk", "gone": "eA=="}}
    new = with_(old, data={"same": "c2FtZQ==", "changed": "bmV3", "added": "eQ=="})
    [diff] = compare(manifests(old), manifests(new))
    assert [(f.path, f.live, f.desired) for f in diff.fields] == [
        ("data.added", None, MASK),
        ("data.changed", MASK, CHANGED_MASK),
        ("data.gone", MASK, None),
    ]
    for value in ("c2FtZQ==", "b2xk", "bmV3", "eA==", "eQ=="):
        assert value not in repr(diff)
    [added] = compare([], manifests(new))
    assert added.manifest["data"] == {"same": MASK, "changed": MASK, "added": MASK}


def test_objects_are_placed_where_the_operator_puts_them():
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Widget"}},
    }
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "r", "namespace": "stray"},
    }
    unset = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    given = manifests(DEPLOYMENT, crd, widget, role, unset)

    def namespaces(placed: list[Manifest]) -> list[str]:
        return [m.ref.namespace for m in placed]

    assert namespaces(place(given, "team", force=False)) == ["shop", "", "", "", "team"]
    assert namespaces(place(given, "team", force=True)) == ["team", "", "", "", "team"]
