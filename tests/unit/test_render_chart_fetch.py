"""Chart dependencies downloaded by the pinned helm from a real chart repository on
127.0.0.1: credentials, the lock, the size cap and the cache."""

from pathlib import Path

import pytest
import yaml

from gitops_operator.api import ChartRepository as RepositoryEntry
from gitops_operator.api import HelmSpec, RenderSpec
from gitops_operator.errors import RenderError, RetryableError
from gitops_operator.render import RenderTools, RepositoryCredentials, chart_fetch, render
from gitops_operator.render.chart_deps import lock_digest
from gitops_operator.render.chart_fetch import ChartFetchSettings
from integration.charts import ChartRepository, oci_registry, registry_binary, write_chart
from integration.charts import helm as helm_cli

pytestmark = pytest.mark.usefixtures("private_tmp")


@pytest.fixture
def charts(tmp_path):
    with ChartRepository(tmp_path / "charts") as served:
        served.publish("redis", "1.0.0", "one")
        served.publish("redis", "1.1.0", "eleven")
        yield served


def tools_for(helm, tmp_path, **settings) -> RenderTools:
    fetch = ChartFetchSettings(
        **{"allowed_hosts": ("127.0.0.1",), "cache_dir": tmp_path / "cache", **settings}
    )
    return RenderTools(kustomize="/nonexistent", helm=helm, timeout=30, charts=fetch)


def app_chart(root: Path, dependency: dict, lock_version: str | None = None) -> None:
    write_chart(root, "app", "1.0.0")
    chart = root / "app" / "Chart.yaml"
    meta = yaml.safe_load(chart.read_text())
    meta["dependencies"] = [dependency]
    chart.write_text(yaml.safe_dump(meta))
    if lock_version:
        locked = [{**{k: dependency[k] for k in ("name", "repository")}, "version": lock_version}]
        lock = {"dependencies": locked, "digest": lock_digest([dependency], locked)}
        (root / "app" / "Chart.lock").write_text(yaml.safe_dump(lock))


def rendered(root, tools, helm_spec=None, credentials=None) -> dict[str, dict]:
    manifests = render(
        root,
        "app",
        RenderSpec(helm=helm_spec or HelmSpec()),
        tools=tools,
        release_name="web",
        namespace="shop",
        credentials=credentials,
    )
    return {m.ref.name: m.obj for m in manifests}


def test_a_dependency_from_a_chart_repository_renders_without_vendoring(helm, tmp_path, charts):
    root = tmp_path / "repo"
    app_chart(root, {"name": "redis", "version": "~1.0.0", "repository": charts.url})
    objs = rendered(root, tools_for(helm, tmp_path))
    assert objs["web-redis"]["data"] == {"version": "1.0.0", "value": "one"}
    assert "web-app" in objs
    assert not (root / "app" / "charts").exists(), "the checkout is never written"


def test_the_lock_decides_the_version(helm, tmp_path, charts):
    root = tmp_path / "repo"
    app_chart(root, {"name": "redis", "version": "^1.0.0", "repository": charts.url}, "1.0.0")
    objs = rendered(root, tools_for(helm, tmp_path))
    assert objs["web-redis"]["data"]["version"] == "1.0.0", "1.1.0 also matches ^1.0.0"


def test_exact_versions_are_served_from_the_cache(helm, tmp_path, charts):
    root = tmp_path / "repo"
    app_chart(root, {"name": "redis", "version": "1.1.0", "repository": charts.url})
    tools = tools_for(helm, tmp_path)
    rendered(root, tools)
    downloads = [r for r in charts.requests if r.endswith(".tgz")]
    assert downloads == ["/redis-1.1.0.tgz"]
    charts.__exit__()
    assert rendered(root, tools)["web-redis"]["data"]["value"] == "eleven"


def test_a_corrupted_cache_entry_is_fetched_again(helm, tmp_path, charts):
    root = tmp_path / "repo"
    app_chart(root, {"name": "redis", "version": "1.1.0", "repository": charts.url})
    tools = tools_for(helm, tmp_path)
    rendered(root, tools)
    for archive in (tmp_path / "cache").glob("*.tgz"):
        archive.write_bytes(b"not a chart")
    assert rendered(root, tools)["web-redis"]["data"]["value"] == "eleven"
    assert len([r for r in charts.requests if r.endswith(".tgz")]) == 2


def test_an_archive_over_the_size_limit_is_refused(helm, tmp_path, charts):
    root = tmp_path / "repo"
    app_chart(root, {"name": "redis", "version": "1.0.0", "repository": charts.url})
    with pytest.raises(RenderError) as err:
        rendered(root, tools_for(helm, tmp_path, max_chart_bytes=100))
    assert err.value.reason == "ChartDependencyTooLarge"
    assert "redis 1.0.0" in str(err.value)


def test_a_version_the_repository_lacks_is_a_retryable_fetch_failure(helm, tmp_path, charts):
    root = tmp_path / "repo"
    app_chart(root, {"name": "redis", "version": "9.9.9", "repository": charts.url})
    with pytest.raises(RetryableError) as err:
        rendered(root, tools_for(helm, tmp_path))
    assert err.value.reason == "ChartDependencyFetchFailed"
    assert f"redis 9.9.9 from {charts.url}" in str(err.value)
    assert "<work>" not in str(err.value) or "tmpdir" not in str(err.value)


def test_basic_auth_credentials_come_from_the_repository_entry(helm, tmp_path):
    with ChartRepository(tmp_path / "private", username="reader", password="s3cret-pw") as repo:
        repo.publish("redis", "1.0.0", "private")
        root = tmp_path / "repo"
        app_chart(root, {"name": "redis", "version": "1.0.0", "repository": repo.url})
        tools = tools_for(helm, tmp_path)
        with pytest.raises(RetryableError) as err:
            rendered(root, tools)
        assert "401" in str(err.value)
        spec = HelmSpec(repositories=(RepositoryEntry(repo.url, "creds"),))
        wrong = {repo.url: RepositoryCredentials("reader", "wrong-pw")}
        with pytest.raises(RetryableError) as err:
            rendered(root, tools, spec, wrong)
        assert "wrong-pw" not in str(err.value)
        right = {repo.url: RepositoryCredentials("reader", "s3cret-pw")}
        assert rendered(root, tools, spec, right)["web-redis"]["data"]["value"] == "private"
        cache = list((tmp_path / "cache").iterdir())
        assert not any(
            "s3cret" in p.read_text(errors="replace") for p in cache if p.suffix != ".tgz"
        )
        with pytest.raises(RetryableError):
            rendered(root, tools)  # a render without the credentials never gets the cached copy


@pytest.fixture
def registry(tmp_path, helm):
    if registry_binary() is None:
        pytest.skip("the distribution registry is not built (run hack/build-binaries.sh)")
    with oci_registry(tmp_path / "registry") as host:
        src = tmp_path / "oci-src"
        for version, value in (("2.0.0", "two"), ("2.1.0", "two-one")):
            chart = write_chart(src / version, "cache", version, value)
            helm_cli("package", str(chart), "--destination", str(src), home=tmp_path / "h")
            archive = str(src / f"cache-{version}.tgz")
            helm_cli("push", archive, f"oci://{host}/charts", "--plain-http", home=tmp_path / "h")
        yield host


def test_a_dependency_from_an_oci_registry_renders(helm, tmp_path, registry):
    root = tmp_path / "repo"
    url = f"oci://{registry}/charts"
    app_chart(root, {"name": "cache", "version": "~2.0.0", "repository": url})
    spec = HelmSpec(repositories=(RepositoryEntry(f"oci://{registry}", plain_http=True),))
    objs = rendered(root, tools_for(helm, tmp_path), spec)
    assert objs["web-cache"]["data"] == {"version": "2.0.0", "value": "two"}


def test_oci_dependencies_honour_the_lock_and_the_cache(helm, tmp_path, registry):
    root = tmp_path / "repo"
    url = f"oci://{registry}/charts"
    app_chart(root, {"name": "cache", "version": ">=2.0.0", "repository": url}, "2.0.0")
    spec = HelmSpec(repositories=(RepositoryEntry(url, plain_http=True),))
    tools = tools_for(helm, tmp_path)
    assert rendered(root, tools, spec)["web-cache"]["data"]["version"] == "2.0.0"
    assert len(list((tmp_path / "cache").glob("*.tgz"))) == 1


def test_oci_credentials_come_from_the_repository_entry(helm, tmp_path):
    if registry_binary() is None:
        pytest.skip("the distribution registry is not built (run hack/build-binaries.sh)")
    with oci_registry(tmp_path / "registry", username="bot", password="oci-s3cret") as host:
        home = tmp_path / "h"
        chart = write_chart(tmp_path / "src", "cache", "3.0.0", "private")
        helm_cli("package", str(chart), "--destination", str(tmp_path / "src"), home=home)
        helm_cli(
            "registry", "login", host, "-u", "bot", "-p", "oci-s3cret", "--insecure", home=home
        )
        archive = str(tmp_path / "src" / "cache-3.0.0.tgz")
        helm_cli("push", archive, f"oci://{host}/private", "--plain-http", home=home)
        root = tmp_path / "repo"
        url = f"oci://{host}/private"
        app_chart(root, {"name": "cache", "version": "3.0.0", "repository": url})
        spec = HelmSpec(repositories=(RepositoryEntry(url, "creds", plain_http=True),))
        tools = tools_for(helm, tmp_path)
        with pytest.raises(RetryableError) as err:
            rendered(root, tools, spec)
        assert "cache 3.0.0" in str(err.value)
        wrong = {url: RepositoryCredentials("bot", "wrong-secret")}
        with pytest.raises(RetryableError) as err:
            rendered(root, tools, spec, wrong)
        assert "wrong-secret" not in str(err.value)
        right = {url: RepositoryCredentials("bot", "oci-s3cret")}
        assert rendered(root, tools, spec, right)["web-cache"]["data"]["value"] == "private"


def test_a_repository_index_over_the_limit_is_refused_while_it_is_written(
    helm, tmp_path, charts, monkeypatch
):
    monkeypatch.setattr(chart_fetch, "MAX_INDEX_BYTES", 64)
    root = tmp_path / "repo"
    app_chart(root, {"name": "redis", "version": "1.0.0", "repository": charts.url})
    with pytest.raises(RenderError) as err:
        rendered(root, tools_for(helm, tmp_path))
    assert err.value.reason == "ChartDependencyTooLarge"
    assert "an index is larger than the limit of 64 bytes" in str(err.value)


def test_archives_the_index_serves_from_a_host_off_the_allow_list_are_refused(
    helm, tmp_path, charts
):
    index = charts.root / "index.yaml"
    elsewhere = charts.url.replace("127.0.0.1", "localhost")
    index.write_text(index.read_text().replace(f"{charts.url}/", f"{elsewhere}/"))
    root = tmp_path / "repo"
    app_chart(root, {"name": "redis", "version": "1.0.0", "repository": charts.url})
    with pytest.raises(RenderError) as err:
        rendered(root, tools_for(helm, tmp_path))
    assert err.value.reason == "ChartRepositoryNotAllowed"
    assert f"serves it from {elsewhere}/redis-1.0.0.tgz" in str(err.value)
    assert not [r for r in charts.requests if r.endswith(".tgz")], "nothing downloaded"


def test_a_v1_chart_with_requirements_yaml_and_its_lock(helm, tmp_path, charts):
    root = tmp_path / "repo"
    write_chart(root, "app", "1.0.0")
    (root / "app" / "Chart.yaml").write_text("apiVersion: v1\nname: app\nversion: 1.0.0\n")
    deps = [{"name": "redis", "version": ">=1.0.0", "repository": charts.url}]
    locked = [{"name": "redis", "version": "1.0.0", "repository": charts.url}]
    (root / "app" / "requirements.yaml").write_text(yaml.safe_dump({"dependencies": deps}))
    lock = {"dependencies": locked, "digest": lock_digest(deps, locked)}
    (root / "app" / "requirements.lock").write_text(yaml.safe_dump(lock))
    assert rendered(root, tools_for(helm, tmp_path))["web-redis"]["data"]["version"] == "1.0.0"
