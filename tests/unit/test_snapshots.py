import base64
import gzip

import pytest

from gitops_operator.objects import Manifest
from gitops_operator.reconcilers.snapshots import (
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
    check_rules(app, [inside])
    with pytest.raises(SnapshotRejectedError, match="kube-system"):
        check_rules(app, [inside, outside])


def encode_raw(payload: bytes) -> str:
    return base64.b64encode(gzip.compress(payload)).decode()
