import pytest

from gitops_operator.api import (
    GitRef,
    RefKind,
    parse_application_spec,
    parse_duration,
    parse_ref,
    parse_repository_spec,
    revision_string,
)
from gitops_operator.errors import InvalidSpecError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("1.5s", 1.5), ("250ms", 0.25)],
)
def test_durations_parse_like_go(text, seconds):
    assert parse_duration(text, field_name="spec.interval") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "5 m", "-1s", "1d"])
def test_bad_durations_name_the_field(text):
    with pytest.raises(InvalidSpecError, match=r"spec\.interval"):
        parse_duration(text, field_name="spec.interval")


def test_ref_precedence_is_commit_semver_tag_branch():
    sha = "a" * 40
    assert parse_ref({"branch": "main", "tag": "v1", "commit": sha}) == GitRef(RefKind.COMMIT, sha)
    assert parse_ref({"branch": "main", "tag": "v1", "semver": ">=1"}).kind is RefKind.SEMVER
    assert parse_ref({"branch": "main", "tag": "v1"}) == GitRef(RefKind.TAG, "v1")
    assert parse_ref({}) == GitRef(RefKind.BRANCH, "")  # the remote's default branch


def test_short_commit_is_refused():
    with pytest.raises(InvalidSpecError, match="40-hex"):
        parse_ref({"commit": "abc123"})


def test_repository_spec_defaults():
    spec = parse_repository_spec({"url": "https://example.com/r.git"})
    assert (spec.interval, spec.timeout, spec.suspend) == (60, 60, False)


@pytest.mark.parametrize(("written", "seconds"), [("10000h", 600), ("0s", 1), ("90s", 90)])
def test_repository_timeout_is_clamped(written, seconds):
    spec = parse_repository_spec({"url": "https://example.com/r.git", "timeout": written})
    assert spec.timeout == seconds


def test_application_source_defaults_to_own_namespace():
    spec = parse_application_spec({"sourceRef": {"name": "repo"}}, "team-a")
    assert (spec.source.namespace, spec.path, spec.prune, spec.allow_empty) == (
        "team-a",
        ".",
        True,
        False,
    )


@pytest.mark.parametrize(
    "name",
    ["team-b:deployer", "system:serviceaccount:team-b:deployer", "../x", "Deployer", "a/b"],
)
def test_service_account_is_a_bare_name_of_the_own_namespace(name):
    with pytest.raises(InvalidSpecError, match="Application's namespace"):
        parse_application_spec({"sourceRef": {"name": "repo"}, "serviceAccountName": name}, "a")
    spec = {"sourceRef": {"name": "repo"}, "serviceAccountName": "deployer.v2"}
    assert parse_application_spec(spec, "a").service_account == "deployer.v2"


def test_revision_names_branch_and_sha():
    sha = "b" * 40
    assert revision_string(GitRef(RefKind.BRANCH, "main"), sha) == f"main@sha1:{sha}"
    assert revision_string(GitRef(RefKind.COMMIT, sha), sha) == f"sha1:{sha}"


def test_verify_defaults_to_head_and_needs_a_secret():
    url = "https://example.com/r.git"
    spec = parse_repository_spec({"url": url, "verify": {"secretRef": {"name": "keys"}}})
    assert spec.verify is not None
    assert (spec.verify.mode, spec.verify.secret_name) == ("HEAD", "keys")
    assert parse_repository_spec({"url": url}).verify is None
    with pytest.raises(InvalidSpecError, match=r"secretRef\.name is required"):
        parse_repository_spec({"url": url, "verify": {"mode": "HEAD"}})


@pytest.mark.parametrize(
    ("ref", "mode", "ok"),
    [
        ({"tag": "v1"}, "Tag", True),
        ({"semver": "^1"}, "TagAndHEAD", True),
        ({"branch": "main"}, "Tag", False),
        ({"commit": "a" * 40}, "TagAndHEAD", False),
        ({"branch": "main"}, "HEAD", True),
    ],
)
def test_a_tag_mode_needs_a_tag_ref(ref, mode, ok):
    spec = {"url": "https://example.com/r.git", "ref": ref}
    spec["verify"] = {"mode": mode, "secretRef": {"name": "keys"}}
    if ok:
        assert parse_repository_spec(spec).verify is not None
    else:
        with pytest.raises(InvalidSpecError, match=r"spec\.ref must name a tag"):
            parse_repository_spec(spec)
