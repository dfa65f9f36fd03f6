"""``helm template`` of a chart directory in the repository, on a private copy.

The command is fixed: ``helm template <release> <chart> --namespace=<ns> --include-crds
--skip-tests -f <valueFile>... -f <inline values>``; inline values come last so they win.
``--skip-tests``: test hooks are Pods meant for ``helm test``; applied by a GitOps loop
they would run once at every sync and stay behind (Flux's helm install skips them too).

Refused before helm runs: value files that are absolute, climb out of the repository or
follow a symlink out of it (``PathOutsideRepository``; the message never shows content,
CVE-2022-24348), missing value files (``PathNotFound``), dependencies not vendored under
``charts/`` (``ChartDependencyMissing``: helm never downloads, ``helm dependency`` never
runs on tenant input, CVE-2025-53547), chart names with ``/`` or ``..``
(``InvalidChart``, CVE-2024-25620), and release names helm would not accept or could read
as a flag (``InvalidReleaseName``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..api import HelmSpec
from ..errors import RenderError
from ..objects import Manifest, load_manifests
from .paths import resolve_from
from .process import copy_checkout, isolated_env, private_workdir, run_tool

# Helm's own rule for release names: DNS-1123 subdomain, at most 53 characters.
_RELEASE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
MAX_RELEASE_NAME = 53


def render_helm(
    root: Path,
    chart: Path,
    helm: HelmSpec,
    *,
    binary: str,
    timeout: float,
    release_name: str,
    namespace: str,
) -> list[Manifest]:
    """Template the chart directory ``chart`` (inside ``root``) with ``helm``'s values."""
    real_root, chart = root.resolve(), chart.resolve()
    chart_rel = chart.relative_to(real_root).as_posix()
    _check_release_name(release_name)
    metadata = _chart_metadata(chart, chart_rel)
    _check_vendored_dependencies(chart, chart_rel, metadata)
    value_files = [_value_file(real_root, chart, entry) for entry in helm.value_files]
    with private_workdir() as work:
        copy = work / "repo"
        copy_checkout(real_root, copy)
        inline = work / "inline-values.yaml"
        inline.write_text(yaml.safe_dump(helm.values), encoding="utf-8")
        argv = [
            binary,
            "template",
            release_name,
            str(copy / chart_rel),
            f"--namespace={namespace}",
            "--include-crds",
            "--skip-tests",
        ]
        for rel in value_files:
            argv += ["-f", str(copy / rel)]
        argv += ["-f", str(inline)]
        output = run_tool(argv, cwd=copy, timeout=timeout, env=_helm_env(work))
    return load_manifests(output, f"helm template {chart_rel}")


def _helm_env(work: Path) -> dict[str, str]:
    env = isolated_env(work)
    for name, sub in (("CACHE", "cache"), ("CONFIG", "config"), ("DATA", "data")):
        path = work / "helm" / sub
        path.mkdir(parents=True, mode=0o700)
        env[f"HELM_{name}_HOME"] = str(path)
    env["HELM_NO_PLUGINS"] = "1"
    return env


def _check_release_name(name: str) -> None:
    if len(name) > MAX_RELEASE_NAME or not _RELEASE_NAME.fullmatch(name):
        raise RenderError(
            f"helm release name {name!r} is invalid: lower-case letters, digits, '-' and"
            f" '.', starting and ending with a letter or digit, at most {MAX_RELEASE_NAME}",
            reason="InvalidReleaseName",
        )


def _chart_metadata(chart: Path, chart_rel: str) -> dict[str, Any]:
    metadata = _load_yaml(chart / "Chart.yaml", f"{chart_rel}/Chart.yaml")
    if metadata is None:
        raise RenderError(f"{chart_rel} is not a Helm chart (no Chart.yaml)", reason="InvalidChart")
    return metadata


def _load_yaml(path: Path, where: str) -> dict[str, Any] | None:
    """A Chart.yaml (or requirements.yaml) as a mapping, its name checked; None if absent."""
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RenderError(
            f"{where}: invalid YAML ({type(exc).__name__})", reason="InvalidChart"
        ) from exc
    if not isinstance(doc, dict):
        raise RenderError(f"{where}: expected a mapping", reason="InvalidChart")
    name = doc.get("name")
    if name is not None and (not isinstance(name, str) or "/" in name or ".." in name):
        raise RenderError(
            f"{where}: chart name {name!r} must not contain '/' or '..'", reason="InvalidChart"
        )
    return doc


def _check_vendored_dependencies(chart: Path, chart_rel: str, metadata: dict[str, Any]) -> None:
    """Every dependency of Chart.yaml (or a v1 requirements.yaml) must be in ``charts/``;
    the name of every vendored chart directory is checked on the way."""
    requirements = _load_yaml(chart / "requirements.yaml", f"{chart_rel}/requirements.yaml") or {}
    declared = {
        str(dep["name"])
        for source in (metadata, requirements)
        for dep in (source.get("dependencies") or [])
        if isinstance(dep, dict) and dep.get("name")
    }
    present: set[str] = set()
    archives: list[str] = []
    vendored = chart / "charts"
    for entry in sorted(vendored.iterdir()) if vendored.is_dir() else ():
        if entry.is_dir():
            sub = _load_yaml(entry / "Chart.yaml", f"{chart_rel}/charts/{entry.name}/Chart.yaml")
            present.add(str((sub or {}).get("name") or entry.name))
        elif entry.name.endswith(".tgz"):
            archives.append(entry.name)
    missing = sorted(
        name
        for name in declared
        if name not in present and not any(a.startswith(f"{name}-") for a in archives)
    )
    if missing:
        raise RenderError(
            f"chart {chart_rel} depends on {', '.join(missing)}, missing from"
            f" {chart_rel}/charts/: vendor the dependencies (helm dependency build) and commit"
            " them; the operator never downloads charts",
            reason="ChartDependencyMissing",
        )


def _value_file(root: Path, chart: Path, entry: str) -> str:
    """The repository-relative path of a value file named relative to the chart."""
    rel = resolve_from(root, chart, entry, what="spec.render.helm.valueFiles entry")
    if not (root / rel).is_file():
        raise RenderError(
            f"spec.render.helm.valueFiles entry {entry!r} is not a file in the repository",
            reason="PathNotFound",
        )
    return rel
