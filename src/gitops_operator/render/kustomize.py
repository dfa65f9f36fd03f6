"""``kustomize build`` on a private copy of the checkout, after proving what it will read.

Load restrictor: ``LoadRestrictionsRootOnly``, plus our own containment scan. Tried both
on kustomize v5.8: root-only confines every *file* (patches, generator sources, configs,
files named in generator and transformer configs) to the directory of the kustomization
that names it, yet lets a *kustomization directory* (``resources: [../base]``) be anywhere,
even ``../../../outside`` of the repository. ``LoadRestrictionsNone`` would admit
``../common/patch.yaml`` but then confinement rests on our scan knowing every field that
names a file, including files inside builtin generator configs (``files: [/etc/passwd]``
in a ``ConfigMapGenerator`` listed under ``generators`` is read under ``None``). So kustomize
keeps its default, and the scan below walks every kustomization reachable from the path
and refuses any entry that resolves outside the repository: together nothing outside the
checkout is read, and overlays of ``../base`` work as they do everywhere else.

Refused before kustomize runs: remote bases (``RemoteBaseRefused``), ``helmCharts`` and
KRM functions (``PluginRefused``), entries outside the repository
(``PathOutsideRepository``), entries that do not exist, which kustomize would try to
clone (``PathNotFound``). The build flags are fixed: no ``--enable-helm``,
``--enable-alpha-plugins``, ``--enable-exec`` or ``--network``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ..errors import RenderError
from ..objects import Manifest, load_manifests
from .limits import RenderBudget
from .paths import check_tree, resolve_from
from .plain import MANIFEST_SUFFIXES, MAX_FILE_BYTES
from .process import copy_checkout, isolated_env, private_workdir, run_tool

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_KUSTOMIZATION_BYTES = 1024 * 1024
_HELM_FIELDS = ("helmCharts", "helmGlobals", "helmChartInflationGenerator")
_FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")
_MAX_WALK = 1_000_000
"""Nodes looked at per file when searching for function annotations (aliases repeat)."""
REMOTE_MARKERS = ("://", "github.com/", "git@", "ssh:", "git::")
# Fields whose entries may name another kustomization directory (walked in turn).
DIRECTORY_FIELDS = {"resources", "bases", "components", "generators", "transformers", "validators"}
_PLUGIN_FIELDS = {"generators", "transformers", "validators"}


def render_kustomize(root: Path, top: Path, *, binary: str, timeout: float) -> list[Manifest]:
    """Build the kustomization at ``top`` (a directory inside ``root``)."""
    real_root = root.resolve()
    check_tree(real_root, real_root)
    check_kustomizations(real_root, top.resolve())
    rel = top.resolve().relative_to(real_root)
    with private_workdir() as work:
        copy = work / "repo"
        copy_checkout(real_root, copy)
        argv = [binary, "build", "--load-restrictor", "LoadRestrictionsRootOnly", str(copy / rel)]
        output = run_tool(argv, cwd=copy, timeout=timeout, env=isolated_env(work))
    return load_manifests(output, f"kustomize build {rel.as_posix()}")


def check_kustomizations(root: Path, top: Path) -> None:
    """Walk every kustomization reachable from ``top``; refuse what may read outside
    ``root``, reach the network or run code."""
    root, top = root.resolve(), top.resolve()
    budget = RenderBudget()  # every file is parsed below: bound what that may cost
    for path in _files_under(top):
        _refuse_functions(root, path, budget)
    pending, seen = [top], set()
    while pending:
        directory = pending.pop()
        if directory in seen:
            continue
        seen.add(directory)
        kfile = next(
            (directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None
        )
        if kfile is None:
            continue  # kustomize reports the missing kustomization itself
        where = kfile.relative_to(root).as_posix()
        doc = load_kustomization(kfile, where)
        for name in _HELM_FIELDS:
            if name in doc:
                raise RenderError(
                    f"{where}: {name} is not allowed (charts are rendered with render type"
                    " helm from a chart in the repository)",
                    reason="PluginRefused",
                )
        for field, entry in kustomization_entries(doc):
            if field in _PLUGIN_FIELDS and "\n" in entry:
                _refuse_function_text(entry, f"{where}: inline {field} entry", budget)
                continue
            target = _resolve_entry(root, directory, field, entry, where)
            if target.is_dir() and field in DIRECTORY_FIELDS:
                pending.append(target)
            elif field in _PLUGIN_FIELDS:
                _refuse_functions(root, target, budget)


def _resolve_entry(root: Path, directory: Path, field: str, entry: str, where: str) -> Path:
    what = f"{where}: {field} entry"
    if any(marker in entry for marker in REMOTE_MARKERS):
        raise RenderError(
            f"{what} {entry!r} is a remote base; only paths inside the repository are allowed",
            reason="RemoteBaseRefused",
        )
    target = (root / resolve_from(root, directory, entry, what=what)).resolve()
    if not target.exists():
        # kustomize would try a path it cannot find as a Git URL.
        raise RenderError(
            f"{what} {entry!r} does not exist in the repository", reason="PathNotFound"
        )
    return target


def kustomization_entries(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every (field, path) pair of a kustomization that names a file or directory."""
    for field in ("resources", "bases", "components", "crds", "configurations"):
        yield from ((field, e) for e in _strings(doc.get(field)))
    for field in ("generators", "transformers", "validators"):
        yield from ((field, e) for e in _strings(doc.get(field)))
    for entry in _strings(doc.get("patchesStrategicMerge")):
        if "\n" not in entry and not entry.lstrip().startswith("{"):  # else an inline patch
            yield "patchesStrategicMerge", entry
    for field in ("patches", "patchesJson6902", "replacements"):
        for item in _mappings(doc.get(field)):
            yield from ((field, e) for e in _strings([item.get("path")]))
    openapi = doc.get("openapi")
    if isinstance(openapi, dict):
        yield from (("openapi", e) for e in _strings([openapi.get("path")]))
    for field in ("configMapGenerator", "secretGenerator"):
        for item in _mappings(doc.get(field)):
            for source in _strings(item.get("files")):
                yield field, source.split("=", 1)[-1]  # ``key=path`` or ``path``
            yield from ((field, e) for e in _strings(item.get("envs")))
            yield from ((field, e) for e in _strings([item.get("env")]))


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def _mappings(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def load_kustomization(path: Path, where: str) -> dict[str, Any]:
    if path.stat().st_size > MAX_KUSTOMIZATION_BYTES:
        raise RenderError(f"{where}: larger than {MAX_KUSTOMIZATION_BYTES} bytes")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RenderError(f"{where}: not a valid kustomization ({type(exc).__name__})") from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise RenderError(f"{where}: a kustomization must be a mapping")
    return doc


def _files_under(top: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith(MANIFEST_SUFFIXES) or name in KUSTOMIZATION_FILES:
                yield Path(dirpath) / name


def _refuse_functions(root: Path, path: Path, budget: RenderBudget) -> None:
    """Refuse a file that declares a KRM function (exec or container): it runs code.

    The parsed documents are checked, not the text: ``io\\x2Ffunction``, ``\\u002f`` or
    a JSON ``\\/`` spell the same annotation key once YAML has read them."""
    if not path.is_file():
        return
    where = path.relative_to(root).as_posix()
    if path.stat().st_size > MAX_FILE_BYTES:
        raise RenderError(f"{where}: larger than {MAX_FILE_BYTES} bytes", reason="ManifestTooLarge")
    _refuse_function_text(path.read_bytes().decode("utf-8", errors="replace"), where, budget)


def _refuse_function_text(text: str, where: str, budget: RenderBudget) -> None:
    budget.charge(text, where)
    try:
        documents = list(yaml.load_all(text, Loader=_StrictLoader))  # a SafeLoader
    except (yaml.YAMLError, RecursionError):
        # Not YAML to PyYAML, or with duplicate keys: kustomize's parser may still read it
        # another way, so it must not even mention a function.
        if "function" in text.lower():
            raise RenderError(
                f"{where}: not valid YAML (or with duplicate keys), and it mentions 'function':"
                " cannot prove it declares no KRM function",
                reason="PluginRefused",
            ) from None
        return
    for document in documents:
        for annotation in _function_annotations(document):
            raise RenderError(
                f"{where}: KRM functions ({annotation}) are not allowed: they run programs",
                reason="PluginRefused",
            )


def _function_annotations(document: Any) -> Iterator[str]:
    """Function annotations of a document, of the items of a ``*List``, and of any
    object nested under them. Aliased nodes are visited once."""
    stack, seen = [document], set()
    while stack:
        node = stack.pop()
        if id(node) in seen or not isinstance(node, (dict, list)):
            continue
        seen.add(id(node))
        if len(seen) > _MAX_WALK:
            raise RenderError("a kustomize input has too many YAML nodes to check")
        if isinstance(node, list):
            stack.extend(node)
            continue
        metadata = node.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        if isinstance(annotations, dict):
            yield from (str(k) for k in annotations if str(k).strip() in _FUNCTION_ANNOTATIONS)
        stack.extend(node.values())


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate mapping keys (Go's YAML parsers do too, and a
    second ``metadata`` must not hide the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in keys:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                keys.add(key)
        return super().construct_mapping(node, deep=deep)
