"""Plain directories of YAML or JSON manifests.

Rule for files: every ``*.yaml``, ``*.yml`` and ``*.json`` file under the path is read,
recursively, in sorted order; each document must be a Kubernetes object (or a ``*List``
of them). Other files are ignored; a YAML document that is not an object is an error.
Objects named only by ``metadata.generateName`` (hooks) are refused in one error naming
each of them, once every file has been read.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from ..errors import RenderError
from ..objects import GeneratedObject, Manifest, parse_manifests, refuse_generated_names
from .limits import RenderBudget

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 4 * 1024 * 1024


def render_plain(
    root: Path, top: Path, include: tuple[str, ...], exclude: tuple[str, ...]
) -> list[Manifest]:
    manifests: list[Manifest] = []
    budget = RenderBudget()
    generated: list[GeneratedObject] = []
    for path in sorted(_manifest_files(top)):
        rel = path.relative_to(root).as_posix()
        local = path.relative_to(top).as_posix()
        if include and not any(fnmatch.fnmatch(local, pat) for pat in include):
            continue
        if any(fnmatch.fnmatch(local, pat) for pat in exclude):
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            raise RenderError(
                f"{rel}: larger than {MAX_FILE_BYTES} bytes", reason="ManifestTooLarge"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise RenderError(f"{rel}: not UTF-8 text ({exc.reason})") from exc
        budget.charge(text, rel)
        found, names_generated = parse_manifests(text, rel)
        manifests.extend(found)
        generated.extend(names_generated)
    # After every file was read: a broken file elsewhere is reported first, on its own.
    refuse_generated_names(generated)
    return manifests


def _manifest_files(top: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(Path(dirpath) / f for f in filenames if f.endswith(MANIFEST_SUFFIXES))
    return found
