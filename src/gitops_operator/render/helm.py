"""``helm template`` of a chart directory in the repository, on a private copy.

The command is fixed: ``helm template <release> <chart> --namespace=<ns> --include-crds
--skip-tests --kube-version=<v> --api-versions=<gv>... -f <valueFile>... -f <inline
values>``; inline values come last so they win. The Kubernetes and API versions are the
destination cluster's unless ``spec.render.helm`` overrides them (``capabilities``).
``--skip-tests``: test hooks are Pods meant for ``helm test``; applied by a GitOps loop
they would run once at every sync and stay behind (Flux's helm install skips them too).

Refused before helm runs: value files that are absolute, climb out of the repository or
follow a symlink out of it (``PathOutsideRepository``; the message never shows content,
CVE-2022-24348), missing value files (``PathNotFound``), chart names with ``/`` or ``..``
(``InvalidChart``, CVE-2024-25620), and release names helm would not accept or could read
as a flag (``InvalidReleaseName``).

Dependencies not vendored under ``charts/``: a ``file://`` one is copied from inside the
repository (``PathOutsideRepository`` otherwise); one from an ``https://``, ``http://`` or
``oci://`` repository on the operator's allow-list (``ChartRepositoryNotAllowed``
otherwise) is downloaded by ``chart_fetch`` at the version of ``Chart.lock``, whose digest
must match (``ChartLockOutOfDate``). ``helm dependency`` itself never runs on tenant
input (its lock-file writes are CVE-2025-53547); any other dependency is
``ChartDependencyMissing``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..api import HelmSpec
from ..errors import RenderError
from ..objects import Manifest, load_manifests
from .capabilities import Capabilities, capability_args, effective_capabilities
from .chart_deps import REMOTE_SCHEMES, ChartDependency, declared, host_allowed, resolve_versions
from .chart_fetch import ChartFetcher, ChartFetchSettings, RepositoryCredentials
from .paths import check_tree, resolve_from
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
    capabilities: Capabilities | None = None,
    charts: ChartFetchSettings | None = None,
    credentials: Mapping[str, RepositoryCredentials] | None = None,
) -> list[Manifest]:
    """Template the chart directory ``chart`` (inside ``root``) with ``helm``'s values,
    for a cluster with ``capabilities``; dependencies are fetched within ``charts``."""
    real_root, chart = root.resolve(), chart.resolve()
    chart_rel = chart.relative_to(real_root).as_posix()
    _check_release_name(release_name)
    metadata = _chart_metadata(chart, chart_rel)
    local, remote = _missing_dependencies(real_root, chart, chart_rel, metadata, charts)
    value_files = [_value_file(real_root, chart, entry) for entry in helm.value_files]
    with private_workdir() as work:
        copy = work / "repo"
        copy_checkout(real_root, copy)
        env = _helm_env(work)
        for source, dep in local:
            _copy_subchart(copy / source, copy / chart_rel / "charts", dep.name)
        if remote:
            assert charts is not None
            fetcher = ChartFetcher(
                binary, charts, helm.repositories, credentials or {}, work, dict(env)
            )
            fetcher.fetch(remote, copy / chart_rel / "charts")
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
            *capability_args(effective_capabilities(capabilities or Capabilities(), helm)),
        ]
        for rel in value_files:
            argv += ["-f", str(copy / rel)]
        argv += ["-f", str(inline)]
        output = run_tool(argv, cwd=copy, timeout=timeout, env=env)
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


def _missing_dependencies(
    root: Path,
    chart: Path,
    chart_rel: str,
    metadata: dict[str, Any],
    charts: ChartFetchSettings | None,
) -> tuple[list[tuple[str, ChartDependency]], list[ChartDependency]]:
    """The dependencies not vendored under ``charts/``: ``file://`` ones (with their
    repository-relative directory) and remote ones to download, every one of them
    admitted; the name of every vendored chart directory is checked on the way."""
    requirements = _load_yaml(chart / "requirements.yaml", f"{chart_rel}/requirements.yaml")
    entries = declared(metadata, requirements)
    present = _vendored(chart, chart_rel)
    absent = [e for e in entries if not _is_vendored(str(e.get("name") or ""), present)]
    if not absent:
        return [], []
    lock_name = "Chart.lock" if (chart / "Chart.lock").is_file() else "requirements.lock"
    lock = _load_yaml(chart / lock_name, f"{chart_rel}/{lock_name}")
    deps = resolve_versions(
        entries,
        lock,
        chart_api_version=str(metadata.get("apiVersion") or "v1"),
        lock_name=f"{chart_rel}/{lock_name}",
    )
    local: list[tuple[str, ChartDependency]] = []
    remote: list[ChartDependency] = []
    for dep in deps:
        if _is_vendored(dep.name, present):
            continue
        if dep.scheme == "file":
            source = resolve_from(
                root, chart, dep.repository[len("file://") :], what=f"dependency {dep.name}"
            )
            if not (root / source / "Chart.yaml").is_file():
                raise RenderError(
                    f"chart {chart_rel} depends on {dep.name} from {dep.repository}, which is"
                    " not a chart directory in the repository",
                    reason="ChartDependencyMissing",
                )
            check_tree(root, root / source)
            local.append((source, dep))
        elif dep.scheme in REMOTE_SCHEMES:
            allowed = charts.allowed_hosts if charts else ()
            if not host_allowed(dep.repository, allowed):
                raise RenderError(
                    f"chart {chart_rel} depends on {dep.describe()}: that host is not on the"
                    " operator's allow-list of chart repositories (GITOPS_CHART_REPOSITORY_HOSTS)",
                    reason="ChartRepositoryNotAllowed",
                )
            remote.append(dep)
        else:
            raise RenderError(
                f"chart {chart_rel} depends on {dep.describe()}, missing from"
                f" {chart_rel}/charts/: name its repository by URL (https://, http://,"
                " oci:// or file://) or vendor it (helm dependency build) and commit it",
                reason="ChartDependencyMissing",
            )
    return local, remote


def _vendored(chart: Path, chart_rel: str) -> tuple[set[str], list[str]]:
    """Names of the chart directories and file names of the archives under ``charts/``."""
    present: set[str] = set()
    archives: list[str] = []
    vendored = chart / "charts"
    for entry in sorted(vendored.iterdir()) if vendored.is_dir() else ():
        if entry.is_dir():
            sub = _load_yaml(entry / "Chart.yaml", f"{chart_rel}/charts/{entry.name}/Chart.yaml")
            present.add(str((sub or {}).get("name") or entry.name))
        elif entry.name.endswith(".tgz"):
            archives.append(entry.name)
    return present, archives


def _is_vendored(name: str, vendored: tuple[set[str], list[str]]) -> bool:
    present, archives = vendored
    return name in present or any(a.startswith(f"{name}-") for a in archives)


def _copy_subchart(source: Path, charts: Path, name: str) -> None:
    """Copy a ``file://`` dependency into ``charts/``, as ``helm dependency build`` would."""
    charts.mkdir(exist_ok=True)
    target = charts / name
    while target.exists():
        target = target.with_name(target.name + "_")
    shutil.copytree(source, target, symlinks=True)


def _value_file(root: Path, chart: Path, entry: str) -> str:
    """The repository-relative path of a value file named relative to the chart."""
    rel = resolve_from(root, chart, entry, what="spec.render.helm.valueFiles entry")
    if not (root / rel).is_file():
        raise RenderError(
            f"spec.render.helm.valueFiles entry {entry!r} is not a file in the repository",
            reason="PathNotFound",
        )
    return rel
