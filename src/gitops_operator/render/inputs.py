"""What a render reads from the repository, so a commit that touches none of it need not
be rendered again (a monorepo's commit to one app leaves the others alone).

``render_inputs`` answers with repository-relative paths: a directory as ``"dir/"``
(everything under it) or a file. It is derived from the same files the renderers read,
with no annotation to maintain:

- plain: the path's directory;
- kustomize: every kustomization directory reachable from the path, and every file or
  directory its entries name (``resources``, ``components``, patches, generator sources,
  configurations...), following ``../base`` wherever it leads inside the repository;
- helm: the chart's directory, ``valueFiles``, and the directory of every ``file://``
  dependency (and theirs).

When in doubt it answers None, meaning "render": a kustomization field it does not know,
a remote base, a symlink anywhere in what is read (its target may change without its own
path changing), a file it cannot parse, a path that does not resolve.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ..api import RenderSpec, RenderType
from ..errors import RenderError
from .detect import detect
from .kustomize import (
    DIRECTORY_FIELDS,
    KUSTOMIZATION_FILES,
    REMOTE_MARKERS,
    kustomization_entries,
    load_kustomization,
)
from .paths import resolve_from, resolve_inside

MAX_INPUTS = 10_000
"""Directories and files followed at most before answering "render"."""

KUSTOMIZATION_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "metadata",
        "openapi",
        "namePrefix",
        "nameSuffix",
        "namespace",
        "commonLabels",
        "labels",
        "commonAnnotations",
        "patchesStrategicMerge",
        "patchesJson6902",
        "patches",
        "images",
        "imageTags",
        "replacements",
        "replicas",
        "vars",
        "sortOptions",
        "resources",
        "components",
        "crds",
        "bases",
        "configMapGenerator",
        "secretGenerator",
        "generatorOptions",
        "configurations",
        "generators",
        "transformers",
        "validators",
        "buildMetadata",
    }
)
"""Every kustomization field whose file references ``kustomization_entries`` knows (or
that names none); any other field means "render"."""


class _Unknown(Exception):
    """Something the analysis does not understand: the answer is "render"."""


def render_inputs(root: Path, path: str, spec: RenderSpec) -> frozenset[str] | None:
    """The paths of the checkout at ``root`` that rendering ``path`` with ``spec`` reads,
    or None when that cannot be known for sure."""
    try:
        top = resolve_inside(root, path, what="spec.path")
        if not top.is_dir():
            return None
        real_root = root.resolve()
        kind = spec.type if spec.type is not RenderType.AUTO else detect(top)
        if kind is RenderType.KUSTOMIZE:
            found = _kustomize(real_root, top)
        elif kind is RenderType.HELM:
            found = _helm(real_root, top, spec)
        else:
            found = {_dir(real_root, top)}
        _refuse_symlinks(real_root, found)
    except (_Unknown, RenderError, OSError, ValueError, yaml.YAMLError):
        return None
    return frozenset(found)


def touches(inputs: frozenset[str], changed: frozenset[str]) -> bool:
    """Whether any changed path is one of ``inputs`` or under one of its directories."""
    directories = tuple(i for i in inputs if i.endswith("/"))
    return any(p in inputs or p.startswith(directories) for p in changed) or "/" in inputs


def _dir(root: Path, directory: Path) -> str:
    rel = directory.resolve().relative_to(root).as_posix()
    return "/" if rel == "." else f"{rel}/"  # "/": the whole repository


def _kustomize(root: Path, top: Path) -> set[str]:
    found: set[str] = set()
    pending, seen = [top.resolve()], set()
    while pending:
        directory = pending.pop()
        if directory in seen:
            continue
        seen.add(directory)
        if len(seen) + len(found) > MAX_INPUTS:
            raise _Unknown("too many inputs")
        found.add(_dir(root, directory))
        kfile = next(
            (directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None
        )
        if kfile is None:
            continue
        doc = load_kustomization(kfile, kfile.relative_to(root).as_posix())
        if not set(doc) <= KUSTOMIZATION_FIELDS:
            raise _Unknown(f"fields {sorted(set(doc) - KUSTOMIZATION_FIELDS)}")
        for field, entry in kustomization_entries(doc):
            if "\n" in entry:
                continue  # an inline plugin configuration: part of the kustomization file
            if any(marker in entry for marker in REMOTE_MARKERS):
                raise _Unknown(f"remote {entry}")
            target = root / resolve_from(root, directory, entry, what=field)
            if target.is_dir() and field in DIRECTORY_FIELDS:
                pending.append(target.resolve())
            elif target.is_dir():
                found.add(_dir(root, target))
            elif target.is_file():
                found.add(target.relative_to(root).as_posix())
            else:
                raise _Unknown(f"missing {entry}")
    return found


def _helm(root: Path, chart: Path, spec: RenderSpec) -> set[str]:
    found = {_dir(root, chart)}
    for entry in spec.helm.value_files:
        found.add(resolve_from(root, chart, entry, what="valueFiles entry"))
    pending = [chart.resolve()]
    seen: set[Path] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        if len(seen) > MAX_INPUTS:
            raise _Unknown("too many charts")
        found.add(_dir(root, current))
        for dependency in _dependencies(current):
            repository = str(dependency.get("repository") or "")
            if repository.startswith("file://"):
                source = resolve_from(root, current, repository[len("file://") :], what="dep")
                pending.append((root / source).resolve())
    return found


def _dependencies(chart: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for name in ("Chart.yaml", "requirements.yaml"):
        file = chart / name
        if file.is_file():
            doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
            if not isinstance(doc, dict):
                raise _Unknown(f"{name} is not a mapping")
            listed = doc.get("dependencies") or []
            if not isinstance(listed, list):
                raise _Unknown("dependencies is not a list")
            entries += [d for d in listed if isinstance(d, dict)]
    return entries


def _refuse_symlinks(root: Path, found: set[str]) -> None:
    """A symlink's target can change while its own path does not: not understood."""
    for item in found:
        if item == "/":
            continue
        path = root / PurePosixPath(item.rstrip("/"))
        if path.is_symlink() or path.resolve() != path:
            raise _Unknown(f"symlink {item}")
        if not item.endswith("/"):
            continue
        for directory, dirnames, filenames in os.walk(path):
            for name in (*dirnames, *filenames):
                if os.path.islink(os.path.join(directory, name)):
                    raise _Unknown(f"symlink under {item}")
