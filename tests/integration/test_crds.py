"""The real API server validates our custom resources with the CRD schemas."""

from __future__ import annotations

import pytest

from gitops_operator.api import API_VERSION
from gitops_operator.errors import ApiError
from gitops_operator.kube import KubeClient


def repository(namespace: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": API_VERSION,
        "kind": "GitRepository",
        "metadata": {"name": "r", "namespace": namespace},
        "spec": spec,
    }


def application(namespace: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {"name": "a", "namespace": namespace},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"url": "file:///etc"}, 'spec.url: Invalid value: "file:///etc"'),
        ({"url": "git@github.com:org/repo.git"}, "spec.url"),
        ({"url": "https://h/r.git", "interval": "often"}, "spec.interval"),
        ({"url": "https://h/r.git", "ref": {"commit": "abc"}}, "spec.ref.commit"),
        ({}, "spec.url: Required value"),
    ],
)
def test_invalid_repository_is_rejected_with_a_readable_message(kube, namespace, spec, message):
    with pytest.raises(ApiError) as err:
        kube.apply(repository(namespace, **spec))
    assert err.value.code == 422
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "spec.sourceRef: Required value"),
        (
            {"sourceRef": {"name": "r"}, "render": {"type": "jsonnet"}},
            'spec.render.type: Unsupported value: "jsonnet"',
        ),
        ({"sourceRef": {"name": "r"}, "path": "/etc"}, "spec.path"),
        ({"sourceRef": {"name": "r"}, "deletionPolicy": "Sometimes"}, "spec.deletionPolicy"),
    ],
)
def test_invalid_application_is_rejected_with_a_readable_message(kube, namespace, spec, message):
    with pytest.raises(ApiError) as err:
        kube.apply(application(namespace, **spec))
    assert message in str(err.value)


def test_defaults_are_filled_in_by_the_api_server(kube: KubeClient, namespace: str):
    created = kube.apply(application(namespace, sourceRef={"name": "r"}), dry_run=True)
    spec = created["spec"]
    assert (
        spec["path"],
        spec["prune"],
        spec["interval"],
        spec["render"]["type"] if "render" in spec else "auto",
    ) == (".", True, "5m", "auto")
    assert spec["sourceRef"]["kind"] == "GitRepository"


def test_printer_columns_and_short_names(kube: KubeClient):
    for name, columns, short in [
        ("gitrepositories", ["URL", "Revision", "Ready", "Age"], "gitrepo"),
        ("applications", ["Source", "Revision", "Sync", "Health", "Age"], "gapp"),
    ]:
        from gitops_operator.objects import ObjectRef

        crd = kube.get(
            "apiextensions.k8s.io/v1",
            ObjectRef(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                "",
                f"{name}.gitops-operator.dev",
            ),
        )
        assert crd is not None
        version = crd["spec"]["versions"][0]
        shown = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
        assert shown == columns
        assert short in crd["spec"]["names"]["shortNames"]
        assert "gitops" in crd["spec"]["names"]["categories"]
        assert version["subresources"] == {"status": {}}
