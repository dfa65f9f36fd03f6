import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest

from gitops_operator.api import HelmSpec, RenderSpec, RenderType
from gitops_operator.errors import RenderError
from gitops_operator.render import RenderTools, process, render
from gitops_operator.render.paths import resolve_from

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
UNUSED = RenderTools(kustomize="/nonexistent/kustomize", helm="/nonexistent/helm", timeout=5)


def render_with(root, path, spec=None, tools=UNUSED):
    return render(
        root, path, spec or RenderSpec(), tools=tools, release_name="app", namespace="default"
    )


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "app" / "sub").mkdir(parents=True)
    (root / "app" / "a.yaml").write_text(CM.format(name="a"))
    (root / "app" / "sub" / "b.yml").write_text(CM.format(name="b"))
    (root / "app" / "README.md").write_text("# not a manifest")
    return root


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Render work directories are created here, so leftovers are visible."""
    path = tmp_path / "tmpdir"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


def fake_tool(directory: Path, body: str) -> str:
    """A stand-in for kustomize: a shell script (named kustomize) with ``body``."""
    directory.mkdir(exist_ok=True)
    script = directory / "kustomize"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def kustomize_repo(repo):
    (repo / "k").mkdir()
    (repo / "k" / "kustomization.yaml").write_text("resources: []\n")
    return repo


def test_plain_directories_are_read_recursively_in_order(repo):
    names = [m.ref.name for m in render_with(repo, "app")]
    assert names == ["a", "b"]


def test_include_and_exclude_globs(repo):
    assert [m.ref.name for m in render_with(repo, "app", RenderSpec(exclude=("sub/*",)))] == ["a"]
    assert [m.ref.name for m in render_with(repo, "app", RenderSpec(include=("sub/*",)))] == ["b"]


@pytest.mark.parametrize("path", ["../other", "/etc", "app/../../x"])
def test_paths_outside_the_checkout_are_refused(repo, path):
    with pytest.raises(RenderError) as err:
        render_with(repo, path)
    assert err.value.reason == "PathOutsideRepository"


def test_symlink_leaving_the_checkout_is_refused_before_reading(repo, tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text(CM.format(name="leak"))
    os.symlink(secret, repo / "app" / "leak.yaml")
    with pytest.raises(RenderError, match="points outside") as err:
        render_with(repo, "app")
    assert "ConfigMap" not in str(err.value), "the target's content is never echoed"


def test_duplicate_objects_are_refused(repo):
    (repo / "app" / "c.yaml").write_text(CM.format(name="a"))
    with pytest.raises(RenderError, match="more than once"):
        render_with(repo, "app")


def test_missing_path_is_a_clear_error(repo):
    with pytest.raises(RenderError, match="not a directory"):
        render_with(repo, "nope")


def test_yaml_alias_bomb_is_refused(repo):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = CM.format(name="bomb") + "data:\n" + "".join(f"  {line}\n" for line in levels)
    (repo / "app" / "bomb.yaml").write_text(bomb)
    with pytest.raises(RenderError, match="aliases") as err:
        render_with(repo, "app")
    assert err.value.reason == "ManifestTooLarge"


def test_a_few_aliases_are_fine(repo):
    (repo / "app" / "c.yaml").write_text(
        CM.format(name="c") + "data: &d {k: v}\nextra: {copy: *d}\n"
    )
    assert len(render_with(repo, "app")) == 3


def test_plain_options_on_a_kustomization_are_refused_not_ignored(kustomize_repo):
    with pytest.raises(RenderError, match="plain directories") as err:
        render_with(kustomize_repo, "k", RenderSpec(include=("*.yaml",)))
    assert err.value.reason == "UnsupportedRenderOption"


def test_helm_values_on_a_plain_directory_are_refused(repo):
    spec = RenderSpec(type=RenderType.PLAIN, helm=HelmSpec(values={"a": 1}))
    with pytest.raises(RenderError, match="Helm charts"):
        render_with(repo, "app", spec)


def test_auto_detection_picks_kustomize_then_helm_then_plain(repo, tmp_path):
    seen = tmp_path / "seen"
    tool = fake_tool(tmp_path / "bin", f'echo "$(basename "$0") $1" > {seen}\n')
    tools = RenderTools(kustomize=tool, helm=tool, timeout=5)
    (repo / "app" / "kustomization.yaml").write_text("resources: [a.yaml]\n")
    assert render_with(repo, "app", tools=tools) == []
    assert seen.read_text() == "kustomize build\n"
    assert [m.ref.name for m in render_with(repo, "app/sub", tools=tools)] == ["b"]


def test_missing_binary_is_reported(kustomize_repo, private_tmp):
    with pytest.raises(RenderError, match="cannot run kustomize") as err:
        render_with(kustomize_repo, "k")
    assert err.value.reason == "RenderToolNotFound"
    assert list(private_tmp.iterdir()) == []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_render_over_the_timeout_is_killed_with_its_children_and_leaves_no_files(
    kustomize_repo, tmp_path, private_tmp
):
    out = tmp_path / "out"
    out.mkdir()
    tool = fake_tool(
        tmp_path / "bin",
        f"pwd > {out}/cwd\nsleep 60 &\necho $! > {out}/child\necho $$ > {out}/pid\nwait\n",
    )
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"kustomize did not finish within .* 0\.5s") as err:
        render_with(kustomize_repo, "k", tools=RenderTools(tool, tool, timeout=0.5))
    assert err.value.reason == "RenderTimeout"
    assert time.monotonic() - started < 10
    assert not Path((out / "cwd").read_text().strip()).exists()
    assert list(private_tmp.iterdir()) == [], "the private work directory is removed"
    pids = [int((out / name).read_text()) for name in ("pid", "child")]
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids), "the whole process group is killed"


def test_output_over_the_cap_is_refused(kustomize_repo, tmp_path, monkeypatch, private_tmp):
    monkeypatch.setattr(process, "MAX_OUTPUT_BYTES", 64 * 1024)
    tool = fake_tool(tmp_path / "bin", "exec yes 'apiVersion: v1'\n")
    with pytest.raises(RenderError, match="printed more than") as err:
        render_with(kustomize_repo, "k", tools=RenderTools(tool, tool, timeout=10))
    assert err.value.reason == "ManifestTooLarge"
    assert list(private_tmp.iterdir()) == []


def test_failure_reports_the_tail_of_stderr(kustomize_repo, tmp_path, private_tmp):
    tool = fake_tool(
        tmp_path / "bin", "head -c 10000 /dev/zero | tr '\\0' x >&2\necho ' boom' >&2\nexit 3\n"
    )
    with pytest.raises(RenderError, match="boom") as err:
        render_with(kustomize_repo, "k", tools=RenderTools(tool, tool, timeout=10))
    assert "exit 3" in str(err.value)
    assert len(str(err.value)) < process.STDERR_TAIL_CHARS + 100
    assert list(private_tmp.iterdir()) == []


def test_tool_runs_in_a_private_copy_with_a_bare_environment(
    kustomize_repo, tmp_path, monkeypatch, private_tmp
):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    out = tmp_path / "out"
    out.mkdir()
    tool = fake_tool(
        tmp_path / "bin",
        f'env > {out}/env\nstat -c %a "$(dirname "$PWD")" > {out}/mode\npwd > {out}/cwd\n',
    )
    render_with(kustomize_repo, "k", tools=RenderTools(tool, tool, timeout=10))
    env = dict(line.split("=", 1) for line in (out / "env").read_text().splitlines() if "=" in line)
    work = Path((out / "cwd").read_text().strip()).parent
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert work.parent == private_tmp and work.name.startswith("gitops-render-")
    assert (out / "mode").read_text().strip() == "700"
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        assert env[name].startswith(str(work)), name
    assert not work.exists()


def test_resolve_from_allows_dotdot_inside_the_repository(tmp_path):
    (tmp_path / "repo" / "a" / "b").mkdir(parents=True)
    root = tmp_path / "repo"
    assert resolve_from(root, root / "a" / "b", "../c.yaml", what="x") == "a/c.yaml"
    for bad in ("../../../etc/passwd", "/etc/passwd", "~/x", ""):
        with pytest.raises(RenderError) as err:
            resolve_from(root, root / "a" / "b", bad, what="x")
        assert err.value.reason == "PathOutsideRepository"


def test_resolve_from_refuses_a_symlink_climbing_out_lexically_or_physically(tmp_path):
    root = tmp_path / "repo"
    (root / "a").mkdir(parents=True)
    os.symlink(root, root / "a" / "top")  # inside, but top/.. is outside when followed
    with pytest.raises(RenderError, match="symlink"):
        resolve_from(root, root / "a", "top/../x", what="x")


def test_a_symlink_loop_is_reported_without_the_cache_path(repo):
    os.symlink("b", repo / "app" / "a")
    os.symlink("a", repo / "app" / "b")
    with pytest.raises(RenderError) as err:
        render_with(repo, "app")
    assert err.value.reason == "SymlinkLoop"
    assert "app/" in str(err.value) and str(repo) not in str(err.value)


def test_a_directory_link_inside_is_followed_when_checking_for_outward_links(repo, tmp_path):
    (tmp_path / "secret.yaml").write_text(CM.format(name="secret"))
    (repo / "shared").mkdir()
    os.symlink(tmp_path / "secret.yaml", repo / "shared" / "secret.yaml")
    os.symlink("../shared", repo / "app" / "files")
    with pytest.raises(RenderError) as err:
        render_with(repo, "app")
    assert err.value.reason == "PathOutsideRepository" and "shared/secret.yaml" in str(err.value)


def test_the_render_copy_leaves_out_links_that_leave_the_checkout(repo, tmp_path):
    (tmp_path / "secret").write_text("x")
    os.symlink(tmp_path / "secret", repo / "out")
    os.symlink("app", repo / "in")
    os.symlink("loop", repo / "loop")
    process.copy_checkout(repo, tmp_path / "copy")
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["app", "in"]


def test_a_small_file_of_many_nodes_is_refused_before_it_is_loaded(repo):
    """3 MiB (under the per-file cap) of ``[a,a,...]`` would cost PyYAML ~500 MiB."""
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wide\nspec: [" + "a," * 1_500_000
    (repo / "app" / "wide.yaml").write_text(body + "a]\n")
    tracemalloc.start()
    try:
        with pytest.raises(RenderError) as err:
            render_with(repo, "app")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.reason == "ManifestTooLarge" and "YAML nodes" in str(err.value)
    assert peak < 64 * 2**20


def test_too_many_documents_are_refused(repo):
    doc = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{}\n"
    (repo / "app" / "many.yaml").write_text("".join(doc.format(i) for i in range(10_001)))
    with pytest.raises(RenderError, match="10000 documents"):
        render_with(repo, "app")


def test_tool_output_is_bounded_like_files(tmp_path, kustomize_repo, private_tmp):
    wide = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w\nspec: [" + "a," * 600_000
    script = fake_tool(tmp_path / "bin", f"cat <<'EOF'\n{wide}a]\nEOF\n")
    tools = RenderTools(kustomize=script, helm="/nonexistent/helm", timeout=30)
    with pytest.raises(RenderError, match="YAML nodes"):
        render_with(kustomize_repo, "k", tools=tools)


HOOK_JOB = (
    "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: {prefix}\n"
    "  annotations: {{argocd.argoproj.io/hook: PreSync}}\n"
)


def test_generate_name_objects_of_every_file_are_named_not_called_duplicates(repo):
    (repo / "app" / "hooks").mkdir()
    (repo / "app" / "hooks" / "migrate.yaml").write_text(HOOK_JOB.format(prefix="migrate-"))
    (repo / "app" / "hooks" / "smoke.yaml").write_text(HOOK_JOB.format(prefix="smoke-"))
    with pytest.raises(RenderError) as err:
        render_with(repo, "app")
    assert err.value.reason == "GenerateNameNotSupported"
    message = str(err.value)
    assert "app/hooks/migrate.yaml (document 1): Job with generateName 'migrate-'" in message
    assert "app/hooks/smoke.yaml (document 1): Job with generateName 'smoke-'" in message
    assert "more than once" not in message


def test_a_broken_file_is_reported_on_its_own_even_after_a_hook(repo):
    (repo / "app" / "0-hook.yaml").write_text(HOOK_JOB.format(prefix="migrate-"))
    (repo / "app" / "z-broken.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(RenderError) as err:
        render_with(repo, "app")
    assert err.value.reason == "RenderFailed"
    assert "app/z-broken.yaml" in str(err.value) and "generateName" not in str(err.value)


def test_excluding_the_hook_file_renders_the_rest(repo):
    (repo / "app" / "migrate.yaml").write_text(HOOK_JOB.format(prefix="migrate-"))
    spec = RenderSpec(exclude=("migrate.yaml",))
    assert [m.ref.name for m in render_with(repo, "app", spec)] == ["a", "b"]


def test_a_helm_chart_with_a_generate_name_hook_is_refused_naming_it(tmp_path):
    from gitops_operator.config import Settings

    helm = Settings().helm_binary
    if not shutil.which(helm):
        pytest.skip(f"pinned helm not found at {helm!r} (run hack/build-binaries.sh)")
    chart = tmp_path / "repo" / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(CM.format(name="settings"))
    (chart / "templates" / "job.yaml").write_text(
        HOOK_JOB.format(prefix="migrate-").replace(
            "argocd.argoproj.io/hook: PreSync", "helm.sh/hook: pre-upgrade"
        )
    )
    tools = RenderTools(kustomize="/nonexistent/kustomize", helm=helm, timeout=30)
    with pytest.raises(RenderError) as err:
        render_with(tmp_path / "repo", "chart", tools=tools)
    assert err.value.reason == "GenerateNameNotSupported"
    assert "helm template chart (document" in str(err.value)
    assert "Job with generateName 'migrate-', annotated helm.sh/hook: pre-upgrade" in str(err.value)
