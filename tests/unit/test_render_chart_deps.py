"""Chart dependency decisions: lock digests, the host allow-list, credentials, cache keys."""

import pytest

from gitops_operator.api import ChartRepository, parse_helm_spec
from gitops_operator.errors import InvalidSpecError, RenderError
from gitops_operator.render.chart_deps import (
    ChartDependency,
    archive_urls,
    cache_key,
    host_allowed,
    is_exact_version,
    lock_digest,
    redact,
    repository_entry,
    resolve_versions,
)

DEPS = [
    {"name": "redis", "version": ">=1.0.0 <2.0.0", "repository": "https://charts.example.com"},
    {"name": "common", "version": "2.1.0", "repository": "oci://registry.example.com/charts"},
]
LOCKED = [
    {"name": "redis", "version": "1.4.2", "repository": "https://charts.example.com"},
    {"name": "common", "version": "2.1.0", "repository": "oci://registry.example.com/charts"},
]


def test_lock_digest_is_go_json_of_requirements_and_lock():
    # helm's HashReq over these entries; Go escapes < and > inside JSON strings.
    expected = (
        '[[{"name":"redis","version":"\\u003e=1.0.0 \\u003c2.0.0","repository":'
        '"https://charts.example.com"},{"name":"common","version":"2.1.0","repository":'
        '"oci://registry.example.com/charts"}],[{"name":"redis","version":"1.4.2",'
        '"repository":"https://charts.example.com"},{"name":"common","version":"2.1.0",'
        '"repository":"oci://registry.example.com/charts"}]]'
    )
    import hashlib

    assert lock_digest(DEPS, LOCKED) == "sha256:" + hashlib.sha256(expected.encode()).hexdigest()


def test_the_lock_fixes_versions_when_its_digest_matches():
    lock = {"dependencies": LOCKED, "digest": lock_digest(DEPS, LOCKED)}
    deps = resolve_versions(DEPS, lock, chart_api_version="v2", lock_name="Chart.lock")
    assert [(d.name, d.version) for d in deps] == [("redis", "1.4.2"), ("common", "2.1.0")]


def test_a_lock_that_does_not_match_the_chart_is_refused():
    lock = {"dependencies": LOCKED, "digest": lock_digest(DEPS, LOCKED)}
    changed = [dict(DEPS[0], version="~3.0.0"), DEPS[1]]
    with pytest.raises(RenderError) as err:
        resolve_versions(changed, lock, chart_api_version="v2", lock_name="app/Chart.lock")
    assert err.value.reason == "ChartLockOutOfDate"
    assert "app/Chart.lock" in str(err.value)


def test_without_a_lock_the_declared_versions_are_used():
    deps = resolve_versions(DEPS, None, chart_api_version="v2", lock_name="Chart.lock")
    assert [d.version for d in deps] == [">=1.0.0 <2.0.0", "2.1.0"]


@pytest.mark.parametrize(
    ("url", "allowed", "expected"),
    [
        ("https://charts.example.com", [], False),
        ("https://charts.example.com", ["*"], True),
        ("https://charts.example.com/sub", ["charts.example.com"], True),
        ("https://CHARTS.example.com", ["charts.example.com"], True),
        ("https://charts.example.com", ["example.com"], False),
        ("https://charts.example.com", ["*.example.com"], True),
        ("https://example.com", ["*.example.com"], False),
        ("https://evil-example.com", ["*.example.com"], False),
        ("oci://127.0.0.1:5000/charts", ["127.0.0.1:5000"], True),
        ("oci://127.0.0.1:5001/charts", ["127.0.0.1:5000"], False),
        ("http://127.0.0.1:8080", ["127.0.0.1"], True),
        ("https://charts.example.com.evil.net", ["charts.example.com"], False),
        ("https://user:pw@charts.example.com", ["charts.example.com"], True),
        ("https://169.254.169.254/latest", ["charts.example.com"], False),
    ],
)
def test_host_allow_list(url, allowed, expected):
    assert host_allowed(url, allowed) is expected


def test_credentials_come_from_the_longest_matching_repository_entry():
    repos = (
        ChartRepository("oci://registry.example.com", "all"),
        ChartRepository("oci://registry.example.com/team", "team"),
        ChartRepository("https://charts.example.com", "charts"),
    )
    assert repository_entry("oci://registry.example.com/team/x", repos).secret_name == "team"
    assert repository_entry("oci://registry.example.com/teamx", repos).secret_name == "all"
    assert repository_entry("https://charts.example.com/", repos).secret_name == "charts"
    assert repository_entry("https://charts.example.com.evil.net", repos) is None


def test_cache_keys_separate_repositories_versions_and_credentials():
    base = cache_key("https://a.example.com", "redis", "1.0.0", "")
    assert base == cache_key("https://a.example.com/", "redis", "1.0.0", "")
    assert base != cache_key("https://b.example.com", "redis", "1.0.0", "")
    assert base != cache_key("https://a.example.com", "redis", "1.0.1", "")
    assert base != cache_key("https://a.example.com", "redis", "1.0.0", "fingerprint")


@pytest.mark.parametrize(
    ("version", "exact"),
    [
        ("1.2.3", True),
        ("v1.2.3", True),
        ("1.2.3-rc.1+b5", True),
        ("~1.2.3", False),
        (">=1.0.0", False),
        ("1.x", False),
        ("", False),
        ("1.2", False),
    ],
)
def test_only_exact_versions_are_cacheable(version, exact):
    assert is_exact_version(version) is exact


def test_oci_references_name_the_chart_under_the_registry_path():
    dep = ChartDependency("common", "1.0.0", "oci://registry.example.com/charts/")
    assert dep.reference == "oci://registry.example.com/charts/common"
    assert ChartDependency("x", "1", "https://c.example.com/").reference == "https://c.example.com"


def test_urls_are_redacted():
    assert redact("https://user:token@charts.example.com/x") == "https://***@charts.example.com/x"
    assert redact("oci://registry.example.com/a@b") == "oci://registry.example.com/a@b"


def test_helm_spec_parses_capabilities_and_repositories():
    spec = parse_helm_spec(
        {
            "kubeVersion": "v1.30.0",
            "apiVersions": ["autoscaling/v2", "v1/Pod", "monitoring.coreos.com/v1/ServiceMonitor"],
            "repositories": [
                {"url": "https://charts.example.com/", "secretRef": {"name": "creds"}},
                {"url": "oci://127.0.0.1:5000", "plainHTTP": True},
            ],
        }
    )
    assert spec.kube_version == "v1.30.0"
    assert spec.repositories == (
        ChartRepository("https://charts.example.com", "creds"),
        ChartRepository("oci://127.0.0.1:5000", None, plain_http=True),
    )


@pytest.mark.parametrize(
    "helm",
    [
        {"kubeVersion": "latest"},
        {"apiVersions": ["not an api version"]},
        {"repositories": [{"url": "ftp://charts.example.com"}]},
        {"repositories": [{"url": "https://user:pw@charts.example.com"}]},
        {"repositories": [{"url": "https://charts.example.com", "plainHTTP": True}]},
    ],
)
def test_bad_helm_fields_are_spec_errors(helm):
    with pytest.raises(InvalidSpecError):
        parse_helm_spec(helm)


def test_archive_urls_of_an_exact_version_or_of_every_version_of_a_range():
    index = {
        "entries": {
            "redis": [
                {"version": "1.1.0", "urls": ["https://cdn.example.net/redis-1.1.0.tgz"]},
                {"version": "1.0.0", "urls": ["redis-1.0.0.tgz"]},
            ]
        }
    }
    repo = "https://charts.example.com/stable"
    assert archive_urls(index, repo, "redis", "1.0.0") == [
        "https://charts.example.com/stable/redis-1.0.0.tgz"
    ]
    assert len(archive_urls(index, repo, "redis", "~1.0")) == 2
    assert archive_urls(index, repo, "other", "1.0.0") == []


@pytest.mark.parametrize("name", ["", "../x", "a/b", "--set=x"])
def test_dependency_names_that_are_not_chart_names_are_refused(name):
    entries = [{"name": name, "version": "1.0.0", "repository": "https://c.example.com"}]
    with pytest.raises(RenderError) as err:
        resolve_versions(entries, None, chart_api_version="v2", lock_name="Chart.lock")
    assert err.value.reason == "InvalidChart"
