from gitops_operator import inventory
from gitops_operator.objects import ObjectRef

A = ObjectRef("", "ConfigMap", "ns", "a")
B = ObjectRef("apps", "Deployment", "ns", "b")
C = ObjectRef("", "Namespace", "", "ns")


def test_status_round_trip_keeps_versions():
    inv = {A: "v1", B: "apps/v1", C: "v1"}
    status = {"inventory": inventory.to_status(inv)}
    assert inventory.from_status(status) == inv


def test_stale_is_old_minus_new_and_never_more():
    old = {A: "v1", B: "apps/v1"}
    new = {B: "apps/v1", C: "v1"}
    assert inventory.stale(old, new) == {A: "v1"}
    assert inventory.stale({}, new) == {}


def test_union_covers_everything_a_sync_may_touch():
    assert set(inventory.union({A: "v1"}, {C: "v1"})) == {A, C}
