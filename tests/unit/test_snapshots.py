import base64
import gzip

import pytest

from gitops_operator.objects import Manifest
from gitops_operator.reconcilers.snapshots import (
    SnapshotOutsideRulesError,
    SnapshotRejectedError,
    check_rules,
    decode,
    encode,
    mac,
)


def test_snapshot_round_trips_manifests_and_their_sources():
    manifests = [
        Manifest(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"c{i}"},
                "data": {"k": "v" * 100},
            },
            f"f{i}.yaml",
        )
        for i in range(50)
    ]
    encoded = encode(manifests)
    assert decode(encoded) == manifests
    assert len(encoded) < 5000, "compressed"


def test_a_snapshot_that_inflates_too_far_is_refused_without_inflating_it():
    bomb = base64.b64encode(gzip.compress(b"[" + b" " * (80 * 1024 * 1024) + b"]")).decode()
    assert len(bomb) < 200_000
    with pytest.raises(SnapshotRejectedError, match="inflates beyond"):
        decode(bomb)


def test_garbage_is_refused_not_crashed_on():
    for data in ("not base64!", base64.b64encode(b"not gzip").decode(), encode_raw(b'{"a": 1}')):
        with pytest.raises(SnapshotRejectedError):
            decode(data)


def test_the_mac_binds_the_application_and_the_sha():
    app = {"metadata": {"namespace": "a", "name": "web", "uid": "u1"}}
    key, sha, payload = b"k" * 32, "a" * 40, encode([])
    signature = mac(key, app, sha, payload)
    other_uid = {"metadata": {**app["metadata"], "uid": "u2"}}
    assert mac(key, other_uid, sha, payload) != signature
    assert mac(key, app, "b" * 40, payload) != signature
    assert mac(b"x" * 32, app, sha, payload) != signature
    assert mac(key, app, sha, encode([Manifest({"kind": "X"}, "x")])) != signature


def test_loaded_objects_must_stay_in_the_target_namespace():
    app = {"metadata": {"namespace": "a", "name": "web"}, "spec": {"targetNamespace": "shop"}}
    inside = Manifest(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}},
        "c",
    )
    outside = Manifest(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "kube-system"},
        },
        "s",
    )
    check_rules(app, [inside], {})
    with pytest.raises(SnapshotOutsideRulesError, match="kube-system"):
        check_rules(app, [inside, outside], {outside.ref: "v1"})


def manifest(kind: str, name: str, namespace: str = "") -> Manifest:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return Manifest({"apiVersion": "v1", "kind": kind, "metadata": meta}, f"{name}.yaml")


def test_objects_outside_the_applications_namespace_must_be_in_its_inventory():
    app = {"metadata": {"namespace": "team-a", "name": "web"}, "spec": {}}
    binding = Manifest(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "pwned"},
        },
        "forged.yaml",
    )
    elsewhere = manifest("Secret", "s", "kube-system")
    home = manifest("ConfigMap", "c", "team-a")
    check_rules(app, [home], {})  # its own namespace: a rollback may bring back a pruned one
    for foreign in (binding, elsewhere):
        with pytest.raises(SnapshotOutsideRulesError, match="does not record"):
            check_rules(app, [home, foreign], {home.ref: "v1"})
        check_rules(app, [home, foreign], {foreign.ref: "v1"})  # owned already: fine


def test_the_target_namespace_is_the_applications_own_for_the_inventory_rule():
    app = {"metadata": {"namespace": "ops", "name": "web"}, "spec": {"targetNamespace": "shop"}}
    check_rules(app, [manifest("ConfigMap", "c", "shop")], {})
    with pytest.raises(SnapshotOutsideRulesError, match="targetNamespace"):
        check_rules(app, [manifest("ConfigMap", "c", "ops")], {})


def encode_raw(payload: bytes) -> str:
    return base64.b64encode(gzip.compress(payload)).decode()
