"""The copy of the watched body a pass starts from."""

from typing import Any

import kopf

from gitops_operator.reconcile_loop import _watched


def body() -> kopf.Body:
    raw: dict[str, Any] = {
        "apiVersion": "gitops-operator.dev/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": "web",
            "namespace": "team",
            "uid": "u-1",
            "resourceVersion": "7",
            "generation": 2,
            "annotations": {"a": "b"},
            "managedFields": [{"manager": "kopf", "fieldsV1": {"f:metadata": {}}}],
        },
        "spec": {"path": "apps/web"},
        "status": {"inventory": {"entries": [{"id": "team_web__Service", "v": "v1"}]}},
    }
    return kopf.Body(raw)  # type: ignore[arg-type]  # kopf types a raw body narrowly


def test_the_copy_holds_all_but_the_managed_fields() -> None:
    watched = body()
    copied = _watched(watched, "7", None)
    assert copied is not None
    assert "managedFields" not in copied["metadata"]
    raw = dict(watched)
    assert copied["spec"] == raw["spec"] and copied["status"] == raw["status"]
    assert {k: v for k, v in raw["metadata"].items() if k != "managedFields"} == copied["metadata"]


def test_the_copy_is_its_own() -> None:
    watched = body()
    copied = _watched(watched, "7", None)
    assert copied is not None
    copied["status"]["inventory"]["entries"].clear()
    copied["metadata"]["annotations"]["a"] = "c"
    assert dict(watched)["status"]["inventory"]["entries"]
    assert dict(watched)["metadata"]["annotations"] == {"a": "b"}
    assert dict(watched)["metadata"]["managedFields"]


def test_a_body_behind_the_last_pass_is_not_copied() -> None:
    assert _watched(body(), "8", {"sync": "Synced"}) is None
