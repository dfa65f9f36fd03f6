"""Helm rendering against the pinned helm binary (no cluster)."""

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from gitops_operator.api import HelmSpec, RenderSpec
from gitops_operator.errors import RenderError
from gitops_operator.render import Capabilities, RenderTools, render
from gitops_operator.render.capabilities import capability_args, effective_capabilities
from gitops_operator.render.chart_deps import lock_digest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHART = EXAMPLES / "helm" / "podinfo"


@pytest.fixture
def tools(helm):
    return RenderTools(kustomize="/nonexistent/kustomize", helm=helm, timeout=30)


pytestmark = pytest.mark.usefixtures("private_tmp")


@pytest.fixture
def repo(tmp_path):
    """A repository holding a copy of the example chart at ``podinfo``."""
    root = tmp_path / "repo"
    shutil.copytree(CHART, root / "podinfo")
    return root


def render_chart(root, path, tools, helm_spec=None, release_name="web"):
    spec = RenderSpec(helm=helm_spec or HelmSpec())
    return render(root, path, spec, tools=tools, release_name=release_name, namespace="shop")


def refused(root, tools, helm_spec=None, path="podinfo", **kw) -> RenderError:
    with pytest.raises(RenderError) as err:
        render_chart(root, path, tools, helm_spec, **kw)
    return err.value


def set_chart(root: Path, **fields) -> None:
    chart_yaml = root / "podinfo" / "Chart.yaml"
    chart_yaml.write_text(yaml.safe_dump({**yaml.safe_load(chart_yaml.read_text()), **fields}))


def test_example_chart_equals_helm_template(helm, tools, tmp_path):
    inline = tmp_path / "inline.yaml"
    inline.write_text("replicaCount: 5\n")
    printed = subprocess.run(
        [
            helm,
            "template",
            "web",
            str(CHART),
            "--namespace",
            "shop",
            "--include-crds",
            "--skip-tests",
            "-f",
            str(CHART / "values-production.yaml"),
            "-f",
            str(inline),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    expected = [doc for doc in yaml.safe_load_all(printed) if doc]
    helm_spec = HelmSpec(values={"replicaCount": 5}, value_files=("values-production.yaml",))
    manifests = render_chart(EXAMPLES, "helm/podinfo", tools, helm_spec)
    assert [m.obj for m in manifests] == expected
    assert {(m.ref.kind, m.ref.namespace, m.ref.name) for m in manifests} == {
        ("ConfigMap", "shop", "web-podinfo"),
        ("Service", "shop", "web-podinfo"),
        ("Deployment", "shop", "web-podinfo"),
    }, "test hooks are skipped"


def test_inline_values_win_over_value_files_which_win_over_defaults(repo, tools):
    def deployment(helm_spec):
        objs = {m.ref.kind: m.obj for m in render_chart(repo, "podinfo", tools, helm_spec)}
        return objs["Deployment"]["spec"]["replicas"], objs["ConfigMap"]["data"]

    assert deployment(HelmSpec())[0] == 1
    replicas, data = deployment(HelmSpec(value_files=("values-production.yaml",)))
    assert (replicas, data["PODINFO_UI_MESSAGE"]) == (3, "hello from production")
    replicas, data = deployment(
        HelmSpec(values={"replicaCount": 7}, value_files=("values-production.yaml",))
    )
    assert (replicas, data["PODINFO_UI_MESSAGE"]) == (7, "hello from production")


def test_release_name_from_the_spec_wins_over_the_default(repo, tools):
    names = {m.ref.name for m in render_chart(repo, "podinfo", tools, HelmSpec("podinfo"))}
    assert names == {"podinfo"}


def test_value_files_elsewhere_in_the_repository_are_allowed(repo, tools):
    (repo / "envs").mkdir()
    (repo / "envs" / "prod.yaml").write_text("replicaCount: 4\n")
    helm_spec = HelmSpec(value_files=("../envs/prod.yaml",))
    objs = {m.ref.kind: m.obj for m in render_chart(repo, "podinfo", tools, helm_spec)}
    assert objs["Deployment"]["spec"]["replicas"] == 4


@pytest.mark.parametrize(
    "entry", ["../../etc/passwd", "../../../../../../../etc/passwd", "/etc/passwd"]
)
def test_value_files_outside_the_repository_are_refused(repo, tools, entry):
    err = refused(repo, tools, HelmSpec(value_files=(entry,)))
    assert err.reason == "PathOutsideRepository"
    assert "root:" not in str(err), "the file's content is never echoed"


def test_a_value_file_symlinked_outside_is_refused(repo, tools, tmp_path):
    (tmp_path / "secret.yaml").write_text("password: hunter2\n")
    os.symlink(tmp_path / "secret.yaml", repo / "values-link.yaml")
    err = refused(repo, tools, HelmSpec(value_files=("../values-link.yaml",)))
    assert err.reason == "PathOutsideRepository"
    assert "hunter2" not in str(err)


def test_a_symlink_in_the_chart_leaving_the_repository_is_refused(repo, tools, tmp_path):
    (tmp_path / "token").write_text("secret-token\n")
    os.symlink(tmp_path / "token", repo / "podinfo" / "templates" / "token.yaml")
    err = refused(repo, tools)
    assert err.reason == "PathOutsideRepository"
    assert "secret-token" not in str(err)


def test_a_chart_cannot_read_outside_through_an_inside_directory_link(repo, tools, tmp_path):
    """``podinfo/files -> ../shared`` stays inside; ``shared/token`` leaves: helm's
    ``.Files.Get "files/token"`` would follow both."""
    (tmp_path / "token").write_text("operator-token-7c1e\n")
    (repo / "shared").mkdir()
    os.symlink(tmp_path / "token", repo / "shared" / "token")
    os.symlink("../shared", repo / "podinfo" / "files")
    (repo / "podinfo" / "templates" / "leak.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\n"
        'data:\n  token: {{ .Files.Get "files/token" | quote }}\n'
    )
    err = refused(repo, tools)
    assert err.reason == "PathOutsideRepository"
    assert "shared/token" in str(err) and "operator-token" not in str(err)


def test_an_outward_link_the_chart_cannot_reach_is_left_out_of_the_copy(repo, tools, tmp_path):
    (tmp_path / "token").write_text("operator-token-7c1e\n")
    (repo / "other").mkdir()
    os.symlink(tmp_path / "token", repo / "other" / "token")
    assert {m.ref.name for m in render_chart(repo, "podinfo", tools)}


def test_a_missing_value_file_is_reported(repo, tools):
    err = refused(repo, tools, HelmSpec(value_files=("values-nope.yaml",)))
    assert err.reason == "PathNotFound"


def test_a_dependency_from_a_host_not_on_the_allow_list_is_refused_by_name(repo, tools):
    set_chart(
        repo,
        dependencies=[
            {"name": "redis", "version": "1.0.0", "repository": "https://charts.example.com"},
        ],
    )
    err = refused(repo, tools)
    assert err.reason == "ChartRepositoryNotAllowed"
    assert "redis 1.0.0 from https://charts.example.com" in str(err)
    assert "GITOPS_CHART_REPOSITORY_HOSTS" in str(err)


def test_a_dependency_without_a_repository_url_is_missing(repo, tools):
    set_chart(repo, dependencies=[{"name": "redis", "version": "1.0.0", "repository": "@stable"}])
    err = refused(repo, tools)
    assert err.reason == "ChartDependencyMissing"
    assert "redis" in str(err)


def _subchart(name: str) -> dict[str, str]:
    return {
        "Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n",
        "templates/cm.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\n"
        ),
    }


def test_vendored_dependencies_render(repo, tools):
    set_chart(
        repo,
        dependencies=[
            {"name": "redis", "version": "1.0.0", "repository": "https://charts.example.com"},
            {"name": "common", "version": "1.0.0", "repository": "https://charts.example.com"},
        ],
    )
    vendored = repo / "podinfo" / "charts"
    for name, text in _subchart("redis").items():
        (vendored / "redis" / name).parent.mkdir(parents=True, exist_ok=True)
        (vendored / "redis" / name).write_text(text)
    with tarfile.open(vendored / "common-1.0.0.tgz", "w:gz") as archive:
        for name, text in _subchart("common").items():
            info = tarfile.TarInfo(f"common/{name}")
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    names = {m.ref.name for m in render_chart(repo, "podinfo", tools)}
    assert {"web-redis", "web-common", "web-podinfo"} <= names


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "x..y"])
def test_chart_names_with_slashes_or_dotdot_are_refused(repo, tools, name):
    set_chart(repo, name=name)
    assert refused(repo, tools).reason == "InvalidChart"


@pytest.mark.parametrize("name", ["--post-renderer=/bin/sh", "Web", "a" * 54, "-x"])
def test_release_names_helm_would_refuse_or_read_as_flags_are_refused(repo, tools, name):
    assert refused(repo, tools, release_name=name).reason == "InvalidReleaseName"


def test_template_error_carries_helms_message(repo, tools):
    (repo / "podinfo" / "templates" / "bad.yaml").write_text(
        '{{ fail "replicaCount must be positive" }}\n'
    )
    err = refused(repo, tools)
    assert err.reason == "RenderFailed"
    assert "helm failed" in str(err)
    assert "replicaCount must be positive" in str(err)


def test_invalid_yaml_from_a_template_is_a_render_error(repo, tools):
    (repo / "podinfo" / "templates" / "bad.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: [unclosed\n"
    )
    with pytest.raises(RenderError):
        render_chart(repo, "podinfo", tools)


CAPABILITIES_CHART = {
    "Chart.yaml": 'apiVersion: v2\nname: caps\nversion: 1.0.0\nkubeVersion: ">=1.23.0-0"\n',
    "templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caps\ndata:\n"
        "  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
        '  widget: {{ .Capabilities.APIVersions.Has "example.com/v1/Widget" | quote }}\n'
        '  hpa: {{ .Capabilities.APIVersions.Has "autoscaling/v2" | quote }}\n'
    ),
}


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def caps_data(root, tools, capabilities, helm_spec=None) -> dict[str, str]:
    spec = RenderSpec(helm=helm_spec or HelmSpec())
    manifests = render(
        root, "caps", spec, tools=tools, release_name="r", namespace="ns", capabilities=capabilities
    )
    return dict(manifests[0].obj["data"])


def test_capability_flags_for_helm_template():
    caps = Capabilities("v1.31.2", ("apps/v1", "v1", "apps/v1"))
    assert capability_args(caps) == [
        "--kube-version=v1.31.2",
        "--api-versions=apps/v1",
        "--api-versions=v1",
    ]
    assert capability_args(Capabilities()) == []


def test_spec_overrides_replace_the_clusters_capabilities():
    cluster = Capabilities("v1.31.2", ("apps/v1",))
    assert effective_capabilities(cluster, HelmSpec()) == cluster
    assert effective_capabilities(cluster, HelmSpec(kube_version="v1.25.0")) == Capabilities(
        "v1.25.0", ("apps/v1",)
    )
    assert effective_capabilities(cluster, HelmSpec(api_versions=("x.io/v1",))) == Capabilities(
        "v1.31.2", ("x.io/v1",)
    )


def test_templates_see_the_clusters_version_and_api_versions(tmp_path, tools):
    root = tmp_path / "repo"
    write(root / "caps", CAPABILITIES_CHART)
    cluster = Capabilities("v1.31.2", ("example.com/v1", "example.com/v1/Widget"))
    assert caps_data(root, tools, cluster) == {
        "kube": "v1.31.2",
        "widget": "true",
        "hpa": "true",
    }
    overridden = caps_data(
        root, tools, cluster, HelmSpec(kube_version="v1.24.0", api_versions=("x.io/v1",))
    )
    assert overridden["kube"] == "v1.24.0"
    assert overridden["widget"] == "false"


def test_helms_default_kubernetes_version_fails_a_chart_that_needs_a_newer_one(tmp_path, tools):
    write(tmp_path / "repo" / "caps", CAPABILITIES_CHART)
    with pytest.raises(RenderError) as err:
        caps_data(tmp_path / "repo", tools, None)
    assert "incompatible with Kubernetes v1.20.0" in str(err.value)


def test_file_dependencies_inside_the_repository_are_copied_in(repo, tools):
    write(repo / "common", _subchart("common"))
    set_chart(
        repo,
        dependencies=[{"name": "common", "version": "1.0.0", "repository": "file://../common"}],
    )
    names = {m.ref.name for m in render_chart(repo, "podinfo", tools)}
    assert "web-common" in names


def test_file_dependencies_outside_the_repository_are_refused(repo, tools, tmp_path):
    write(tmp_path / "outside", _subchart("outside"))
    set_chart(
        repo,
        dependencies=[
            {"name": "outside", "version": "1.0.0", "repository": "file://../../outside"}
        ],
    )
    assert refused(repo, tools).reason == "PathOutsideRepository"


def test_lock_digest_equals_the_one_helm_writes(repo, helm, tmp_path):
    """``helm dependency update`` (file:// dependencies: no network) writes Chart.lock;
    our digest of the same chart must be the one helm checks."""
    write(repo / "common", _subchart("common"))
    write(repo / "other", _subchart("other"))
    deps = [
        {
            "name": "common",
            "version": ">=1.0.0 <2.0.0",
            "repository": "file://../common",
            "condition": "common.enabled",
            "tags": ["a", "b&c"],
            "alias": "base",
            "import-values": [{"child": "data.x", "parent": "imported"}, "data"],
        },
        {"name": "other", "version": "~1.0.0", "repository": "file://../other", "enabled": True},
    ]
    set_chart(repo, dependencies=deps)
    home = tmp_path / "helm-home"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "c"),
        "HELM_CONFIG_HOME": str(home / "f"),
        "HELM_DATA_HOME": str(home / "d"),
    }
    subprocess.run(
        [helm, "dependency", "update", str(repo / "podinfo")],
        check=True,
        env=env,
        capture_output=True,
    )
    lock = yaml.safe_load((repo / "podinfo" / "Chart.lock").read_text())
    assert lock_digest(deps, lock["dependencies"]) == lock["digest"]


def test_an_out_of_date_lock_is_refused_before_anything_is_fetched(repo, tools):
    deps = [{"name": "redis", "version": "1.0.0", "repository": "https://charts.example.com"}]
    set_chart(repo, dependencies=deps)
    lock = {"dependencies": deps, "digest": lock_digest(deps, deps)}
    (repo / "podinfo" / "Chart.lock").write_text(yaml.safe_dump(lock))
    set_chart(repo, dependencies=[dict(deps[0], version="2.0.0")])
    assert refused(repo, tools).reason == "ChartLockOutOfDate"


def test_offline_render_takes_capabilities_from_flags_and_says_when_it_has_none(
    tmp_path, helm, capsys
):
    from gitops_operator.cli import main

    write(tmp_path / "repo" / "caps", CAPABILITIES_CHART)
    chart = str(tmp_path / "repo" / "caps")
    argv = ["render", chart, "--kube-version", "v1.31.0", "--api-versions", "example.com/v1"]
    argv += ["--api-versions", "example.com/v1/Widget"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    data = yaml.safe_load(out)["data"]
    assert (data["kube"], data["widget"]) == ("v1.31.0", "true")
    assert "Helm's defaults" not in err
    assert main(["render", chart]) != 0
    assert "note: rendering offline: .Capabilities holds Helm's defaults" in capsys.readouterr().err
