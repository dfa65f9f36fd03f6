from gitops_operator.objects import Manifest
from gitops_operator.reconcilers.snapshots import decode, encode


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
