"""What a render reads (render.inputs): the files a commit must touch for an Application
to be rendered again; None whenever that is not known for sure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops_operator.api import HelmSpec, RenderSpec, RenderType
from gitops_operator.render.inputs import render_inputs, touches


def write(root: Path, files: dict[str, object]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return root


def test_a_plain_path_reads_its_directory(tmp_path: Path) -> None:
    write(tmp_path, {"apps/a/cm.yaml": "{}", "apps/b/cm.yaml": "{}"})
    inputs = render_inputs(tmp_path, "apps/a", RenderSpec())
    assert inputs == {"apps/a/"}
    assert touches(inputs, frozenset({"apps/a/cm.yaml"}))
    assert not touches(inputs, frozenset({"apps/b/cm.yaml", "apps/ab/x.yaml", "README.md"}))


def test_the_whole_repository_is_touched_by_any_change(tmp_path: Path) -> None:
    write(tmp_path, {"cm.yaml": "{}"})
    inputs = render_inputs(tmp_path, ".", RenderSpec())
    assert inputs is not None and touches(inputs, frozenset({"docs/README.md"}))


def test_a_kustomization_reads_what_it_reaches_and_nothing_else(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "apps/b/kustomization.yaml": {
                "resources": ["../../base", "cm.yaml"],
                "components": ["../../components/tls"],
                "patches": [{"path": "../../patches/replicas.yaml"}],
                "configMapGenerator": [{"name": "x", "files": ["key=../../config/app.ini"]}],
            },
            "apps/b/cm.yaml": "{}",
            "base/kustomization.yaml": {"resources": ["deploy.yaml"]},
            "base/deploy.yaml": "{}",
            "components/tls/kustomization.yaml": {"kind": "Component"},
            "patches/replicas.yaml": "{}",
            "patches/other.yaml": "{}",
            "config/app.ini": "a=1",
            "config/unused.ini": "b=2",
        },
    )
    inputs = render_inputs(tmp_path, "apps/b", RenderSpec())
    assert inputs is not None
    for changed in (
        "base/deploy.yaml",
        "components/tls/x.yaml",
        "patches/replicas.yaml",
        "config/app.ini",
    ):
        assert touches(inputs, frozenset({changed})), changed
    for unrelated in ("patches/other.yaml", "config/unused.ini", "apps/c/cm.yaml"):
        assert not touches(inputs, frozenset({unrelated})), unrelated


@pytest.mark.parametrize(
    "kustomization",
    [
        {"resources": ["https://github.com/org/repo//base?ref=v1"]},
        {"resources": ["missing"]},
        {"helmCharts": [{"name": "x"}]},
        {"someFutureField": ["x.yaml"]},
    ],
    ids=["remote-base", "missing-entry", "helm-charts", "unknown-field"],
)
def test_what_is_not_understood_means_render(tmp_path: Path, kustomization: dict) -> None:
    write(tmp_path, {"app/kustomization.yaml": kustomization})
    assert render_inputs(tmp_path, "app", RenderSpec()) is None


def test_a_symlink_in_what_is_read_means_render(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": "{}", "shared/x.yaml": "{}"})
    (tmp_path / "app" / "link.yaml").symlink_to(tmp_path / "shared" / "x.yaml")
    assert render_inputs(tmp_path, "app", RenderSpec()) is None


def test_a_chart_reads_its_directory_value_files_and_local_dependencies(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "charts/web/Chart.yaml": {
                "apiVersion": "v2",
                "name": "web",
                "version": "1.0.0",
                "dependencies": [
                    {"name": "lib", "version": "1.0.0", "repository": "file://../lib"}
                ],
            },
            "charts/lib/Chart.yaml": {"apiVersion": "v2", "name": "lib", "version": "1.0.0"},
            "env/prod.yaml": "replicas: 3",
            "env/dev.yaml": "replicas: 1",
        },
    )
    spec = RenderSpec(type=RenderType.HELM, helm=HelmSpec(value_files=("../../env/prod.yaml",)))
    inputs = render_inputs(tmp_path, "charts/web", spec)
    assert inputs is not None
    assert touches(inputs, frozenset({"charts/lib/templates/x.yaml"}))
    assert touches(inputs, frozenset({"env/prod.yaml"}))
    assert not touches(inputs, frozenset({"env/dev.yaml"}))


def test_a_path_that_is_not_there_means_render(tmp_path: Path) -> None:
    assert render_inputs(tmp_path, "nowhere", RenderSpec()) is None
