"""Kustomize rendering against the pinned kustomize binary (no cluster)."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from gitops_operator.api import RenderSpec, RenderType
from gitops_operator.config import Settings
from gitops_operator.errors import RenderError
from gitops_operator.render import RenderTools, render

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"


@pytest.fixture(scope="module")
def kustomize() -> str:
    binary = Settings().kustomize_binary
    if not Path(binary).is_file():
        pytest.skip(f"pinned kustomize not found at {binary!r} (run hack/build-binaries.sh)")
    return binary


@pytest.fixture
def tools(kustomize):
    return RenderTools(kustomize=kustomize, helm="/nonexistent/helm", timeout=30)


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    path = tmp_path / "tmpdir"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    yield path
    assert list(path.iterdir()) == [], "every render removes its work directory"


def render_kustomize(root, path, tools):
    spec = RenderSpec(type=RenderType.KUSTOMIZE)
    return render(root, path, spec, tools=tools, release_name="app", namespace="default")


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def repo(tmp_path):
    return write(
        tmp_path / "repo",
        {
            "base/kustomization.yaml": "resources: [cm.yaml]\n",
            "base/cm.yaml": CM.format(name="c"),
        },
    )


def refused(root, path, tools) -> RenderError:
    with pytest.raises(RenderError) as err:
        render_kustomize(root, path, tools)
    return err.value


def test_staging_overlay_equals_kustomize_build(kustomize, tools):
    overlay = EXAMPLES / "kustomize" / "overlays" / "staging"
    printed = subprocess.run(
        [kustomize, "build", str(overlay)], check=True, capture_output=True, text=True
    ).stdout
    expected = [doc for doc in yaml.safe_load_all(printed) if doc]
    manifests = render(
        EXAMPLES,
        "kustomize/overlays/staging",
        RenderSpec(),
        tools=tools,
        release_name="x",
        namespace="default",
    )
    assert [m.obj for m in manifests] == expected
    by_kind = {m.ref.kind: m for m in manifests}
    assert by_kind["Deployment"].obj["spec"]["replicas"] == 2
    assert {m.ref.namespace for m in manifests} == {"podinfo-staging", ""}
    assert by_kind["ConfigMap"].ref.name.startswith("podinfo-config-")


def test_overlay_of_a_parent_base_works(repo, tools):
    write(repo, {"overlays/a/kustomization.yaml": "resources: [../../base]\nnamePrefix: a-\n"})
    assert [m.ref.name for m in render_kustomize(repo, "overlays/a", tools)] == ["a-c"]


@pytest.mark.parametrize(
    "entry",
    [
        "github.com/stefanprodan/podinfo//kustomize?ref=6.7.1",
        "https://github.com/stefanprodan/podinfo//kustomize",
        "git@github.com:stefanprodan/podinfo.git//kustomize",
        "ssh://git@example.com/podinfo.git",
    ],
)
def test_remote_bases_are_refused(repo, tools, entry):
    write(repo, {"overlays/a/kustomization.yaml": f"resources:\n  - ../../base\n  - {entry}\n"})
    err = refused(repo, "overlays/a", tools)
    assert err.reason == "RemoteBaseRefused"
    assert "remote base" in str(err)


def test_a_missing_entry_is_refused_rather_than_tried_as_a_git_url(repo, tools):
    write(repo, {"overlays/a/kustomization.yaml": "resources: [example.com/org/repo]\n"})
    assert refused(repo, "overlays/a", tools).reason == "PathNotFound"


def test_exec_function_annotation_is_refused(repo, tools):
    write(
        repo,
        {
            "overlays/a/kustomization.yaml": "resources: [../../base]\ntransformers: [fn.yaml]\n",
            "overlays/a/fn.yaml": (
                "apiVersion: example.com/v1\nkind: Run\nmetadata:\n  name: x\n  annotations:\n"
                "    config.kubernetes.io/function: |\n      exec:\n        path: /bin/sh\n"
            ),
        },
    )
    err = refused(repo, "overlays/a", tools)
    assert err.reason == "PluginRefused"
    assert "overlays/a/fn.yaml" in str(err)


def test_function_config_in_a_base_outside_the_path_is_refused(repo, tools):
    write(
        repo,
        {
            "base/kustomization.yaml": "resources: [cm.yaml]\ngenerators: [gen/fn.yaml]\n",
            "base/gen/fn.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: f\n  annotations:\n"
                "    config.kubernetes.io/function: 'container: {image: evil}'\n"
            ),
            "overlays/a/kustomization.yaml": "resources: [../../base]\n",
        },
    )
    assert refused(repo, "overlays/a", tools).reason == "PluginRefused"


@pytest.mark.parametrize("field", ["helmCharts", "helmGlobals"])
def test_helm_charts_in_a_kustomization_are_refused(repo, tools, field):
    write(repo, {"base/kustomization.yaml": f"resources: [cm.yaml]\n{field}: []\n"})
    write(repo, {"overlays/a/kustomization.yaml": "resources: [../../base]\n"})
    err = refused(repo, "overlays/a", tools)
    assert err.reason == "PluginRefused"
    assert field in str(err)


def test_a_base_outside_the_repository_is_refused(repo, tools, tmp_path):
    # kustomize's root-only restrictor admits this one: the scan is what stops it.
    write(tmp_path, {"outside/kustomization.yaml": "resources: [cm.yaml]\n"})
    write(tmp_path, {"outside/cm.yaml": CM.format(name="leak")})
    write(repo, {"overlays/a/kustomization.yaml": "resources: [../../../outside]\n"})
    err = refused(repo, "overlays/a", tools)
    assert err.reason == "PathOutsideRepository"
    assert "leak" not in str(err)


@pytest.mark.parametrize(
    "kustomization",
    [
        "configMapGenerator: [{name: g, files: [/etc/passwd]}]\n",
        "configMapGenerator: [{name: g, files: [pw=../../../../../../etc/passwd]}]\n",
        "secretGenerator: [{name: g, envs: [/proc/self/environ]}]\n",
        "resources: [/etc/passwd]\n",
        "patches: [{path: ../../../outside.yaml}]\n",
        "crds: [../../../outside.yaml]\n",
    ],
)
def test_files_outside_the_repository_are_refused(repo, tools, kustomization):
    write(repo, {"overlays/a/kustomization.yaml": kustomization})
    err = refused(repo, "overlays/a", tools)
    assert err.reason == "PathOutsideRepository"
    assert "root:" not in str(err), "no content of the target is echoed"


def test_an_outbound_symlink_anywhere_in_the_repository_is_refused(repo, tools, tmp_path):
    write(tmp_path, {"secret.yaml": CM.format(name="leak")})
    os.symlink(tmp_path / "secret.yaml", repo / "base" / "cm.yaml.link")
    write(repo, {"overlays/a/kustomization.yaml": "resources: [../../base]\n"})
    err = refused(repo, "overlays/a", tools)
    assert err.reason == "PathOutsideRepository"
    assert "points outside" in str(err)


def test_an_inbound_symlink_is_followed(repo, tools):
    os.symlink("base", repo / "linked")
    write(repo, {"overlays/a/kustomization.yaml": "resources: [../../linked]\n"})
    assert [m.ref.name for m in render_kustomize(repo, "overlays/a", tools)] == ["c"]


def test_kustomize_errors_carry_kustomize_message(repo, tools):
    write(
        repo,
        {
            "overlays/a/kustomization.yaml": "resources: [../../base]\npatches: [{path: p.yaml}]\n",
            "overlays/a/p.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nope\n",
        },
    )
    err = refused(repo, "overlays/a", tools)
    assert err.reason == "RenderFailed"
    assert "kustomize failed" in str(err)
    assert "nope" in str(err)


def test_root_only_restrictor_still_applies_inside_the_repository(repo, tools):
    write(
        repo,
        {
            "common/patch.yaml": CM.format(name="c"),
            "overlays/a/kustomization.yaml": (
                "resources: [../../base]\npatches: [{path: ../../common/patch.yaml}]\n"
            ),
        },
    )
    err = refused(repo, "overlays/a", tools)
    assert "is not in or below" in str(err)
    assert "<checkout>/overlays/a" in str(err), "temporary paths are not shown"


def test_a_cycle_of_kustomizations_fails_within_the_timeout(repo, tools):
    write(
        repo,
        {
            "a/kustomization.yaml": "resources: [../b]\n",
            "b/kustomization.yaml": "resources: [../a]\n",
        },
    )
    assert refused(repo, "a", tools).reason == "RenderFailed"


def test_files_named_inside_a_generator_config_stay_confined_by_kustomize(repo, tools):
    # The scan does not parse builtin plugin configs: the root-only restrictor covers them.
    write(
        repo,
        {
            "overlays/a/kustomization.yaml": "generators: [gen.yaml]\n",
            "overlays/a/gen.yaml": (
                "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: g\n"
                "files: [/etc/passwd]\n"
            ),
        },
    )
    err = refused(repo, "overlays/a", tools)
    assert "is not in or below" in str(err)
    assert "root:" not in str(err)


@pytest.mark.parametrize(
    "key",
    [
        '"config.kubernetes.io\\x2Ffunction"',
        '"config.kubernetes.io\\u002ffunction"',
        '"config.k8s.io\\/function"',
        '"config.kubernetes.io/\\x66unction"',
    ],
)
def test_function_annotations_spelled_with_escapes_are_refused(repo, tools, tmp_path, key):
    marker = tmp_path / "function-ran"
    write(
        repo,
        {
            "overlays/a/kustomization.yaml": "resources: [../../base]\ntransformers: [fn.yaml]\n",
            "overlays/a/fn.yaml": (
                "apiVersion: example.com/v1\nkind: Run\nmetadata:\n  name: x\n  annotations:\n"
                f"    {key}: |\n      exec:\n        path: /usr/bin/touch\n"
                f"        args: [{marker}]\n"
            ),
        },
    )
    err = refused(repo, "overlays/a", tools)
    assert err.reason == "PluginRefused"
    assert not marker.exists()


def test_a_json_file_with_an_escaped_function_annotation_is_refused(repo, tools):
    write(
        repo,
        {
            "overlays/a/kustomization.yaml": "resources: [../../base]\ngenerators: [fn.json]\n",
            "overlays/a/fn.json": (
                '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f",'
                ' "annotations": {"config.kubernetes.io\\/function": "container: {image: x}"}}}'
            ),
        },
    )
    assert refused(repo, "overlays/a", tools).reason == "PluginRefused"


def test_the_word_function_in_data_is_not_refused(repo, tools):
    write(repo, {"base/cm.yaml": CM.format(name="c") + "  doc: config.kubernetes.io/function\n"})
    assert [m.ref.name for m in render_kustomize(repo, "base", tools)] == ["c"]
