"""Compare two renders of one Application: the objects a change adds, removes or changes,
and the fields it changes, as ``gitops-operator diff --base`` reports a pull request.

Objects are matched by identity (group, kind, namespace, name), so a new ``apiVersion``
of the same object is a changed field, not a removal and an addition. Both sides are
cleaned as drift is (``status`` and server-set metadata dropped), fields the Application
ignores (``ignoreDifferences`` JSON pointers) are left out, and Secret values are masked.
Nothing here reads a cluster: where a kind's scope matters, a table of the built-in
cluster-scoped kinds and the CRDs of the render itself decide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from .api import IgnoreRule
from .diff import (
    FieldChange,
    adopt_ignored,
    changes_between,
    ignores_for,
    mask_secret,
    mask_secret_pair,
    normalize,
)
from .objects import KubeObject, Manifest, ObjectRef, apply_order_key, group_of


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class ObjectDiff:
    """One object that differs between the base and the head render."""

    ref: ObjectRef
    api_version: str
    """The head's, or the base's for a removed object."""
    change: Change
    fields: tuple[FieldChange, ...] = ()
    """For a changed object, each field that differs: ``desired`` is its value in the
    head, ``live`` its value in the base (None where a side has no such field)."""
    manifest: KubeObject = field(default_factory=dict, compare=False, hash=False)
    """The object on its side (the head's; the base's when removed), cleaned and masked:
    what a reviewer reads of an added or removed object."""


def compare(
    base: Sequence[Manifest], head: Sequence[Manifest], ignore: tuple[IgnoreRule, ...] = ()
) -> list[ObjectDiff]:
    """The objects that differ between ``base`` and ``head``, in apply order."""
    before = {m.ref: m.obj for m in base}
    after = {m.ref: m.obj for m in head}
    diffs: list[ObjectDiff] = []
    for ref in sorted(before.keys() | after.keys(), key=apply_order_key):
        pointers, _ = ignores_for(ignore, ref)
        old, new = before.get(ref), after.get(ref)
        if old is None or new is None:
            shown = new if new is not None else old
            assert shown is not None
            change = Change.ADDED if old is None else Change.REMOVED
            kept = mask_secret(_comparable(shown, pointers))
            diffs.append(ObjectDiff(ref, str(shown.get("apiVersion", "")), change, (), kept))
            continue
        left, right = mask_secret_pair(_comparable(old, pointers), _comparable(new, pointers))
        if left == right:  # the common case, without a field-by-field walk
            continue
        fields = tuple(changes_between(right, left))
        if fields:
            version = str(new.get("apiVersion", ""))
            diffs.append(ObjectDiff(ref, version, Change.CHANGED, fields, right))
    return diffs


def count(diffs: Sequence[ObjectDiff]) -> dict[Change, int]:
    """How many objects each kind of change concerns, every kind present (zero if none)."""
    counts = Counter(d.change for d in diffs)
    return {change: counts[change] for change in Change}


def _comparable(obj: KubeObject, pointers: tuple[str, ...]) -> KubeObject:
    """``obj`` as drift compares it, without the fields its ignore rules name."""
    return adopt_ignored(normalize(obj), None, pointers, ())


# -- where objects land --------------------------------------------------------------------

CLUSTER_SCOPED_KINDS = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("networking.k8s.io", "IngressClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    }
)
"""Built-in kinds without a namespace. A custom kind is cluster-scoped when a CRD of the
same render says so; any other kind is taken to be namespaced."""


def place(manifests: Sequence[Manifest], namespace: str, *, force: bool) -> list[Manifest]:
    """Put each object where the operator would: namespaced objects in ``namespace``
    (only those without one, unless ``force``, as ``targetNamespace`` does), cluster-scoped
    ones in none."""
    cluster_scoped = set(CLUSTER_SCOPED_KINDS)
    for m in manifests:
        spec = m.obj.get("spec") or {}
        if m.ref.kind == "CustomResourceDefinition" and spec.get("scope") == "Cluster":
            names = spec.get("names") or {}
            cluster_scoped.add((str(spec.get("group", "")), str(names.get("kind", ""))))
    placed = []
    for m in manifests:
        meta = dict(m.obj.get("metadata") or {})
        if (group_of(m.api_version), m.ref.kind) in cluster_scoped:
            meta.pop("namespace", None)
        elif force or not meta.get("namespace"):
            meta["namespace"] = namespace
        placed.append(Manifest({**m.obj, "metadata": meta}, m.source))
    return placed
