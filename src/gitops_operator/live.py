"""Read the live state of many objects with as few requests as the set allows.

Objects of one kind in one namespace are read with a single LIST when there are at least
``LIST_THRESHOLD`` of them (1000 ConfigMaps cost one request, not 1000 GETs); smaller
groups, and groups whose LIST is refused (a tenant may get but not list), are read with
one GET each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from .errors import ApiError, NotFoundError
from .kube import KubeClient
from .objects import KubeObject, ObjectRef

LIST_THRESHOLD = 16

Live = KubeObject | None | ApiError | NotFoundError
"""The live object, None when it does not exist, or why it could not be read."""


def read_many(
    kube: KubeClient,
    items: Iterable[tuple[ObjectRef, str]],
    run_all: Callable[[list[Callable[[], dict[ObjectRef, Live]]]], list[dict[ObjectRef, Live]]],
) -> dict[ObjectRef, Live]:
    """The live state of every ``(ref, apiVersion)``; ``run_all`` runs the reads
    (concurrently, on the caller's pool) and returns their results in order."""
    groups: dict[tuple[str, str, str], list[ObjectRef]] = defaultdict(list)
    for ref, version in items:
        groups[(version, ref.kind, ref.namespace)].append(ref)
    jobs: list[Callable[[], dict[ObjectRef, Live]]] = []
    for (version, kind, namespace), refs in groups.items():
        if len(refs) >= LIST_THRESHOLD:
            jobs.append(_lister(kube, version, kind, namespace, refs))
        else:
            jobs.extend(_getter(kube, version, ref) for ref in refs)
    found: dict[ObjectRef, Live] = {}
    for result in run_all(jobs):
        found.update(result)
    return found


def _getter(kube: KubeClient, version: str, ref: ObjectRef) -> Callable[[], dict[ObjectRef, Live]]:
    return lambda: {ref: _get_one(kube, version, ref)}


def _lister(
    kube: KubeClient, version: str, kind: str, namespace: str, refs: list[ObjectRef]
) -> Callable[[], dict[ObjectRef, Live]]:
    def list_them() -> dict[ObjectRef, Live]:
        try:
            listed = kube.list(version, kind, namespace or None)
        except NotFoundError as exc:
            return dict.fromkeys(refs, exc)
        except ApiError as exc:
            if exc.transient:
                return dict.fromkeys(refs, exc)
            return {ref: _get_one(kube, version, ref) for ref in refs}  # e.g. no list RBAC
        by_name = _by_name(listed)
        return {ref: by_name.get(ref.name) for ref in refs}

    return list_them


def _get_one(kube: KubeClient, version: str, ref: ObjectRef) -> Live:
    try:
        return kube.get(version, ref)
    except (ApiError, NotFoundError) as exc:
        return exc


def _by_name(objects: list[KubeObject]) -> Mapping[str, KubeObject]:
    return {str((o.get("metadata") or {}).get("name", "")): o for o in objects}
