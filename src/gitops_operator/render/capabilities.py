"""What ``.Capabilities`` holds when helm templates a chart.

``helm template`` talks to no cluster: unless told otherwise it claims Kubernetes v1.20.0
and only the API versions compiled into helm, so a chart with ``kubeVersion: >=1.23.0-0``
is refused and templates that branch on ``.Capabilities`` render for the wrong cluster.
Like Argo CD, the operator passes the destination cluster's version and every API version
it serves (``group/version`` and ``group/version/Kind``); ``spec.render.helm.kubeVersion``
and ``apiVersions`` replace them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api import HelmSpec


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The cluster as templates see it; empty fields mean helm's built-in defaults."""

    kube_version: str | None = None
    api_versions: tuple[str, ...] = ()

    @property
    def describe(self) -> str:
        version = self.kube_version or "helm's default Kubernetes version"
        apis = (
            f"{len(self.api_versions)} API versions" if self.api_versions else "helm's API versions"
        )
        return f"{version}, {apis}"


def effective_capabilities(cluster: Capabilities, helm: HelmSpec) -> Capabilities:
    """The cluster's capabilities with the Application's overrides: each set field of
    ``spec.render.helm`` (kubeVersion, apiVersions) replaces the cluster's value."""
    return Capabilities(
        kube_version=helm.kube_version or cluster.kube_version,
        api_versions=helm.api_versions or cluster.api_versions,
    )


def capability_args(capabilities: Capabilities) -> list[str]:
    """``helm template`` flags for ``capabilities``. Helm adds ``--api-versions`` to its
    own built-in list, so a version can be added to what templates see, never removed."""
    args = []
    if capabilities.kube_version:
        args.append(f"--kube-version={capabilities.kube_version}")
    args += [f"--api-versions={v}" for v in sorted(set(capabilities.api_versions))]
    return args
