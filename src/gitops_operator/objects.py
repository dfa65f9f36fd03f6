"""Kubernetes objects as data: references, manifests, YAML loading and apply order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from .errors import RenderError

KubeObject = dict[str, Any]

# The C loader is several times faster on large renders; both are safe loaders.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """Identity of an object: what inventory, prune and diff key on."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        scope = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{scope}{self.name}"

    @property
    def id(self) -> str:
        """Flux-compatible inventory id: ``<namespace>_<name>_<group>_<kind>``."""
        return f"{self.namespace}_{self.name}_{self.group}_{self.kind}"

    @classmethod
    def from_id(cls, ident: str) -> ObjectRef:
        namespace, name, group, kind = ident.split("_", 3)
        return cls(group=group, kind=kind, namespace=namespace, name=name)


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def ref_of(obj: KubeObject) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(
        group=group_of(str(obj.get("apiVersion", ""))),
        kind=str(obj.get("kind", "")),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name", "")),
    )


@dataclass(frozen=True, slots=True)
class Manifest:
    """One desired object and the file it came from (for error messages)."""

    obj: KubeObject
    source: str

    @property
    def ref(self) -> ObjectRef:
        return ref_of(self.obj)

    @property
    def api_version(self) -> str:
        return str(self.obj["apiVersion"])


def load_manifests(text: str, source: str) -> list[Manifest]:
    """Parse a multi-document YAML (or JSON) text into manifests.

    Empty documents are skipped; ``*List`` kinds are expanded. A document that is not a
    mapping with ``apiVersion``, ``kind`` and ``metadata.name`` is an error naming the file.
    """
    try:
        documents = list(yaml.load_all(text, Loader=_SafeLoader))
    except yaml.YAMLError as exc:
        raise RenderError(f"{source}: invalid YAML: {exc}") from exc
    except RecursionError as exc:
        raise RenderError(f"{source}: YAML nested too deeply") from exc
    return [Manifest(obj, source) for obj in _expand(documents, source)]


def _expand(documents: Iterable[Any], source: str) -> Iterator[KubeObject]:
    for index, doc in enumerate(documents):
        if doc is None:
            continue
        where = f"{source} (document {index + 1})"
        if not isinstance(doc, dict):
            raise RenderError(f"{where}: expected a Kubernetes object, got {type(doc).__name__}")
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
            yield from _expand(doc["items"], where)
            continue
        if not doc.get("apiVersion") or not kind:
            raise RenderError(f"{where}: not a Kubernetes object (apiVersion and kind required)")
        name = (doc.get("metadata") or {}).get("name")
        if not name:
            raise RenderError(f"{where}: {kind} has no metadata.name")
        yield doc


# Apply order, as data. Stage 0 must exist (and be Established / Active) before anything
# that may depend on it is validated; within a stage, lower ranks go first.
_FIRST_STAGE_KINDS = {"CustomResourceDefinition": 0, "Namespace": 1}
_KIND_RANK = {
    kind: rank
    for rank, kind in enumerate(
        [
            "ResourceQuota",
            "LimitRange",
            "PriorityClass",
            "StorageClass",
            "IngressClass",
            "RuntimeClass",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Secret",
            "ConfigMap",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Service",
            "DaemonSet",
            "Deployment",
            "StatefulSet",
            "ReplicaSet",
            "Job",
            "CronJob",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "Ingress",
        ]
    )
}


def apply_stage(ref: ObjectRef) -> int:
    """0 for CRDs and Namespaces (applied and awaited first), 1 for everything else."""
    return 0 if ref.kind in _FIRST_STAGE_KINDS else 1


def apply_order_key(ref: ObjectRef) -> tuple[int, int, str, str]:
    rank = _FIRST_STAGE_KINDS.get(ref.kind, _KIND_RANK.get(ref.kind, len(_KIND_RANK)))
    return (apply_stage(ref), rank, ref.namespace, ref.name)


def sort_for_apply(manifests: Iterable[Manifest]) -> list[Manifest]:
    return sorted(manifests, key=lambda m: apply_order_key(m.ref))
