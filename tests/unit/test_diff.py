import pytest

from gitops_operator.diff import (
    CHANGED_MASK,
    MASK,
    differs,
    field_changes,
    format_field_path,
    mask_secret_pair,
    normalize,
    parse_pointer,
)

LIVE = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": "a",
        "namespace": "ns",
        "uid": "123",
        "resourceVersion": "9",
        "managedFields": [{"manager": "x"}],
        "creationTimestamp": "2026-01-01T00:00:00Z",
    },
    "data": {"k": "v"},
}


def test_server_metadata_is_not_a_difference():
    desired = {**LIVE, "metadata": {"name": "a", "namespace": "ns", "resourceVersion": "10"}}
    assert not differs(desired, LIVE)
    assert "uid" not in normalize(LIVE)["metadata"]


def test_changed_field_is_reported_with_its_path():
    desired = {**LIVE, "data": {"k": "w"}}
    assert differs(desired, LIVE)
    [change] = field_changes(desired, LIVE)
    assert (change.path, change.desired, change.live) == ("data.k", "w", "v")
    assert change.pointer == "/data/k"


def test_secret_values_are_masked_in_changes():
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"token": "b2xk"},
    }
    desired = {**live, "data": {"token": "bmV3", "extra": "eA=="}}
    changes = field_changes(desired, live)
    assert [c.path for c in changes] == ["data.extra"]
    assert all(c.desired in (MASK, None) for c in changes)
    assert "bmV3" not in repr(changes) and "b2xk" not in repr(changes)


def test_masking_a_pair_leaves_the_inputs_and_other_kinds_alone():
    secret = {"kind": "Secret", "stringData": {"a": "1"}}
    left, right = mask_secret_pair(secret, {**secret, "stringData": {"a": "2"}})
    assert (left["stringData"], right["stringData"]) == ({"a": MASK}, {"a": CHANGED_MASK})
    assert secret["stringData"] == {"a": "1"}
    assert mask_secret_pair(LIVE, LIVE) == (LIVE, LIVE)


def test_json_pointer_fields_keep_their_live_value():
    from gitops_operator.diff import adopt_ignored

    desired = {"spec": {"replicas": 2, "template": {"x": 1}}}
    live = {"spec": {"replicas": 5, "template": {"x": 0}}}
    adopted = adopt_ignored(desired, live, ("/spec/replicas",), ())
    assert adopted == {"spec": {"replicas": 5, "template": {"x": 1}}}
    assert desired["spec"]["replicas"] == 2, "the input is not modified"
    assert adopt_ignored(desired, None, ("/spec/replicas",), ()) == {"spec": {"template": {"x": 1}}}


def test_fields_owned_by_named_managers_are_left_out():
    from gitops_operator.diff import adopt_ignored, manager_paths

    live = {
        "metadata": {
            "managedFields": [
                {"manager": "hpa", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"manager": "gitops-operator", "fieldsV1": {"f:spec": {"f:template": {"f:x": {}}}}},
                {
                    "manager": "hpa",
                    "fieldsV1": {"f:spec": {"f:ports": {'k:{"port":80}': {".": {}}}}},
                },
            ]
        }
    }
    assert manager_paths(live, ("hpa",)) == [("spec", "replicas")]
    desired = {"spec": {"replicas": 2, "template": {"x": 1}}}
    assert adopt_ignored(desired, live, (), ("hpa",)) == {"spec": {"template": {"x": 1}}}


def test_ignore_rules_match_on_the_fields_they_name():
    from gitops_operator.api import IgnoreRule
    from gitops_operator.diff import ignores_for
    from gitops_operator.objects import ObjectRef

    rules = (
        IgnoreRule(kind="Deployment", json_pointers=("/spec/replicas",)),
        IgnoreRule(group="apps", kind="Deployment", name="api", managers=("hpa",)),
        IgnoreRule(kind="Service", json_pointers=("/spec/clusterIP",)),
    )
    web = ObjectRef("apps", "Deployment", "ns", "web")
    api = ObjectRef("apps", "Deployment", "ns", "api")
    assert ignores_for(rules, web) == (("/spec/replicas",), ())
    assert ignores_for(rules, api) == (("/spec/replicas",), ("hpa",))


def test_label_with_a_slash_reads_as_people_write_it_not_as_a_json_pointer():
    live = {**LIVE, "metadata": {**LIVE["metadata"], "labels": {"app": "web"}}}
    desired = {
        **live,
        "metadata": {
            **live["metadata"],
            "labels": {"app": "web", "gitops-operator.dev/test-never-ready": "true"},
        },
    }
    [change] = field_changes(desired, live)
    assert change.path == 'metadata.labels["gitops-operator.dev/test-never-ready"]'
    assert change.pointer == "/metadata/labels/gitops-operator.dev~1test-never-ready"
    assert "~1" not in change.path


def test_list_indices_read_in_brackets_and_sort_numerically():
    containers = [{"name": f"c{i}", "image": "nginx:1.27"} for i in range(11)]
    live = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": containers}}}}
    bumped = [{**c, "image": "nginx:1.28"} if i in (2, 10) else c for i, c in enumerate(containers)]
    desired = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": bumped}}}}
    assert [c.path for c in field_changes(desired, live)] == [
        "spec.template.spec.containers[2].image",
        "spec.template.spec.containers[10].image",
    ]


@pytest.mark.parametrize(
    ("field", "text"),
    [
        (("spec", "replicas"), "spec.replicas"),
        (("data", "app.properties"), 'data["app.properties"]'),
        (("data", "80"), 'data["80"]'),
        (("spec", "ports", 0, "port"), "spec.ports[0].port"),
        (("metadata", "annotations", 'say "hi"'), 'metadata.annotations["say \\"hi\\""]'),
        (("my-key",), '["my-key"]'),
        ((), "(the whole object)"),
    ],
)
def test_field_paths_are_written_as_people_write_them(field, text):
    assert format_field_path(field) == text


@pytest.mark.parametrize(
    "field",
    [("metadata", "labels", "a/b~c"), ("spec", "containers", 3, "env", 0, "value")],
)
def test_the_json_pointer_of_a_change_parses_back_to_its_field(field):
    from gitops_operator.diff import FieldChange

    assert parse_pointer(FieldChange(field, 1, 2).pointer) == field
