"""Kubernetes objects as data: references, manifests, YAML loading and apply order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from .errors import RenderError

KubeObject = dict[str, Any]

# The C loader is several times faster on large renders; both are safe loaders.
_SafeLoaderBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PlainScalar(str):
    """A plain (unquoted) YAML string holding ``${``: post-build substitution reads it
    again as YAML once substituted (``replicas: ${N}`` becomes an integer), as Flux's
    substitution on the text does; a quoted one stays a string."""

    __slots__ = ()


class _SafeLoader(_SafeLoaderBase):  # type: ignore[misc]
    """The safe loader (C where present) that marks ``PlainScalar`` strings."""


def _construct_str(loader: Any, node: yaml.ScalarNode) -> str:
    value: str = loader.construct_scalar(node)
    return PlainScalar(value) if not node.style and "${" in value else value


_SafeLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)
# Written back out as the string it is (``render`` prints manifests with PyYAML's dumpers).
for _representer in (yaml.representer.SafeRepresenter, yaml.representer.Representer):
    _representer.add_representer(PlainScalar, yaml.representer.SafeRepresenter.represent_str)


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

    def in_namespace(self, namespace: str) -> Manifest:
        """The object put in ``namespace`` (whatever its own said); placing objects strips
        it again from cluster-scoped kinds."""
        meta = {**(self.obj.get("metadata") or {}), "namespace": namespace}
        return Manifest({**self.obj, "metadata": meta}, self.source)


def load_manifests(text: str, source: str) -> list[Manifest]:
    """Parse a multi-document YAML (or JSON) text into manifests.

    Empty documents are skipped; ``*List`` kinds are expanded. A document that is not a
    mapping with ``apiVersion``, ``kind`` and ``metadata.name`` is an error naming the file;
    objects with only ``metadata.generateName`` are refused together, after the other
    documents were checked (``refuse_generated_names``).
    """
    manifests, generated = parse_manifests(text, source)
    refuse_generated_names(generated)
    return manifests


def parse_manifests(text: str, source: str) -> tuple[list[Manifest], list[GeneratedObject]]:
    """``load_manifests`` without the refusal: the manifests, and the objects named only
    by ``metadata.generateName``, so a caller reading many files can report them all."""
    try:
        documents = list(yaml.load_all(text, Loader=_SafeLoader))
    except yaml.YAMLError as exc:
        raise RenderError(f"{source}: invalid YAML: {exc}") from exc
    except RecursionError as exc:
        raise RenderError(f"{source}: YAML nested too deeply") from exc
    manifests: list[Manifest] = []
    generated: list[GeneratedObject] = []
    for where, doc in _expand(documents, source):
        meta = doc.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("name"):
            manifests.append(Manifest(doc, source))
        elif meta.get("generateName"):
            generated.append(GeneratedObject.of(doc, where))
        else:
            raise RenderError(f"{where}: {doc['kind']} has no metadata.name")
    return manifests, generated


def _expand(documents: Iterable[Any], source: str) -> Iterator[tuple[str, KubeObject]]:
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
        yield where, doc


# -- objects named by the server (metadata.generateName) -----------------------------------

GENERATE_NAME_REASON = "GenerateNameNotSupported"
HOOK_ANNOTATIONS = ("argocd.argoproj.io/hook", "helm.sh/hook")
"""Argo CD and Helm mark their hooks with these; hooks are where generateName is used."""
_MAX_NAMED = 5


@dataclass(frozen=True, slots=True)
class GeneratedObject:
    """An object with ``metadata.generateName`` and no name: where it is and what it is."""

    where: str
    kind: str
    generate_name: str
    hook: str
    """``"<annotation>: <value>"`` when the object is annotated as a hook, else ``""``."""

    @classmethod
    def of(cls, obj: KubeObject, where: str) -> GeneratedObject:
        meta = obj.get("metadata") or {}
        annotations = meta.get("annotations")
        annotations = annotations if isinstance(annotations, dict) else {}
        hook = next((f"{k}: {annotations[k]}" for k in HOOK_ANNOTATIONS if k in annotations), "")
        kind, prefix = str(obj.get("kind")), str(meta.get("generateName"))
        return cls(where, _bounded(kind), _bounded(prefix), _bounded(hook))

    def __str__(self) -> str:
        hook = f", annotated {self.hook}" if self.hook else ""
        return f"{self.where}: {self.kind} with generateName {self.generate_name!r}{hook}"


def _bounded(text: str, limit: int = 100) -> str:
    # Tenant text in a status message: a huge value must not make a huge condition.
    return text if len(text) <= limit else text[: limit - 3] + "..."


def refuse_generated_names(generated: list[GeneratedObject]) -> None:
    """Raise one ``RenderError`` naming every object that has only a generateName.

    Server-side apply identifies an object by its name, so an object whose name the
    server generates cannot be applied, diffed or pruned declaratively: it is created
    anew at each sync. Such objects are Argo CD and Helm hooks, run around a sync; this
    operator runs hooks by their name, and dropping one silently (a database migration,
    say) would be worse than refusing the revision."""
    if not generated:
        return
    named = "; ".join(str(g) for g in generated[:_MAX_NAMED])
    more = f"; and {len(generated) - _MAX_NAMED} more" if len(generated) > _MAX_NAMED else ""
    count = "an object" if len(generated) == 1 else f"{len(generated)} objects"
    raise RenderError(
        f"{count} with metadata.generateName and no metadata.name ({named}{more}):"
        " server-side apply needs a fixed name, and hooks too are created and deleted by"
        " name here (hooks with generateName are not supported); give each a"
        " metadata.name, or leave it out of the render (render.exclude for plain directories)",
        reason=GENERATE_NAME_REASON,
    )


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
