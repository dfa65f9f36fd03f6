from gitops_operator.diff import MASK, differs, field_changes, normalize

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
    assert (change.path, change.desired, change.live) == ("/data/k", "w", "v")


def test_secret_values_are_masked_in_changes():
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"token": "b2xk"},
    }
    desired = {**live, "data": {"token": "bmV3", "extra": "eA=="}}
    changes = field_changes(desired, live)
    assert [c.path for c in changes] == ["/data/extra"]
    assert all(c.desired in (MASK, None) for c in changes)
    assert "bmV3" not in repr(changes) and "b2xk" not in repr(changes)


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
