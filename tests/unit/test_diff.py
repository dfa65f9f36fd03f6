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
