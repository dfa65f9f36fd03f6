"""Manifests and custom resources the reconcile tests commit and create."""

from __future__ import annotations

from typing import Any

import yaml

from gitops_operator.api import API_VERSION
from localcluster import NEVER_READY_LABEL


def configmap(name: str, **data: str) -> str:
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    )


def deployment(
    name: str,
    *,
    replicas: int = 1,
    image: str = "nginx:1.27",
    never_ready: bool = False,
    app: str | None = None,
) -> str:
    labels = {"app": app or name}
    pod_labels = {**labels, **({NEVER_READY_LABEL: "true"} if never_ready else {})}
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {"containers": [{"name": "main", "image": image}]},
                },
            },
        }
    )


def repository(namespace: str, url: str, name: str = "app", interval: str = "2s") -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "ref": {"branch": "main"}, "interval": interval},
    }


def application(
    namespace: str, name: str = "app", path: str = "app", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"sourceRef": {"name": "app"}, "path": path, **spec},
    }


def crd(group: str, kind: str, plural: str) -> dict[str, Any]:
    """A namespaced CRD whose objects have ``spec.size``, an integer."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
