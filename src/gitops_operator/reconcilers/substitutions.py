"""The variables of ``spec.postBuild``: read from the ConfigMaps and Secrets it names, in
the Application's own namespace and with the Application's own rights (the manager's
client impersonates its ServiceAccount), so that a tenant reads only what it may.

A missing source that is not optional, or one the Application may not read, is retried
(``SubstituteSourceNotFoundError``), never held against the revision: creating it is
enough, and the operator's watch of ConfigMaps and Secrets wakes the Application at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from ..api.substitute import VARIABLE_NAME, PostBuild, SourceKind, SubstituteSource
from ..errors import ApiError, SubstituteSourceNotFoundError, SubstitutionError
from ..kube import KubeClient
from ..objects import KubeObject, ObjectRef

SOURCE_RETRY = 15.0
"""Seconds between looks for a missing ConfigMap or Secret of ``substituteFrom``."""


@dataclass(frozen=True, slots=True)
class Variables:
    """The variables of one pass, and ``inputs``: a digest of which version of each source
    they came from (uid and resourceVersion, never a value), kept in status to tell when
    a source changed since the last sync."""

    values: dict[str, str]
    inputs: str
    secret_values: frozenset[str] = frozenset()
    """The values that came from Secrets: masked wherever the pass reports something."""


def load_variables(kube: KubeClient, namespace: str, post_build: PostBuild) -> Variables:
    """``substituteFrom`` in order (a later source overrides an earlier one), then
    ``substitute`` over them all, as Flux documents it."""
    values: dict[str, str] = {}
    versions: list[str] = []
    secret: set[str] = set()
    for source in post_build.substitute_from:
        obj = _read(kube, namespace, source)
        if obj is None:
            versions.append(f"{source}=absent")
            continue
        meta = obj.get("metadata") or {}
        versions.append(f"{source}={meta.get('uid')}:{meta.get('resourceVersion')}")
        data = _data_of(obj, source)
        values.update(data)
        if source.kind is SourceKind.SECRET:
            secret.update(v for v in data.values() if v)
    values.update(dict(post_build.substitute))
    digest = hashlib.sha256("\n".join(versions).encode()).hexdigest()[:16]
    return Variables(values, digest, frozenset(secret))


def _read(kube: KubeClient, namespace: str, source: SubstituteSource) -> KubeObject | None:
    where = f"spec.postBuild.substituteFrom: {source.kind.value} {namespace}/{source.name}"
    try:
        obj = kube.get("v1", ObjectRef("", source.kind.value, namespace, source.name))
    except ApiError as exc:
        if exc.code != 403:
            raise
        raise SubstituteSourceNotFoundError(
            f"{where} cannot be read with the Application's rights (forbidden): grant its"
            f" ServiceAccount get on it; nothing is applied until then",
            requeue_after=SOURCE_RETRY,
        ) from None
    if obj is None and not source.optional:
        raise SubstituteSourceNotFoundError(
            f"{where} not found (set optional: true if it may be absent); nothing is"
            f" applied until it exists, looked for again at once when it is created",
            requeue_after=SOURCE_RETRY,
        )
    return obj


def _data_of(obj: KubeObject, source: SubstituteSource) -> dict[str, str]:
    where = f"spec.postBuild.substituteFrom {source}"
    data = dict(obj.get("data") or {})
    for key in data:
        if not VARIABLE_NAME.fullmatch(str(key)):
            raise SubstitutionError(
                f"{where}: key {str(key)[:63]!r} is not a variable name (a letter or '_',"
                " then letters, digits or '_')",
                requeue_after=SOURCE_RETRY,
            )
    if source.kind is SourceKind.CONFIG_MAP:
        return {str(k): str(v) for k, v in data.items()}
    values = {}
    for key, raw in data.items():
        try:
            values[str(key)] = base64.b64decode(str(raw)).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise SubstitutionError(
                f"{where}: key {key} is not UTF-8 text", requeue_after=SOURCE_RETRY
            ) from None
    return values
