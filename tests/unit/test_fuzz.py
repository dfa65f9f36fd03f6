"""Property-based fuzzing (hypothesis), bounded in examples and time: the parsers that see
untrusted input fail only with their own errors, never with anything else."""

from __future__ import annotations

import contextlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_operator.api import GitRef, RefKind, parse_duration
from gitops_operator.diff import field_changes
from gitops_operator.errors import (
    GitOpsError,
    InvalidSpecError,
    RenderError,
    SourceError,
    WebhookError,
    redact,
)
from gitops_operator.objects import load_manifests
from gitops_operator.source.refs import highest_matching, parse_ls_remote, select
from gitops_operator.webhook import Provider, normalize_repo_url, parse_push, verify

BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)

yaml_like = st.text(
    alphabet=st.sampled_from(list("abcdekmnprstv: -[]{}&*!|>'\"#\n\t0123456789.,/")),
    max_size=400,
)


@BOUNDED
@given(st.one_of(yaml_like, st.text(max_size=300)))
def test_manifest_loading_fails_only_with_render_errors(text):
    try:
        manifests = load_manifests(text, "fuzz.yaml")
    except RenderError as exc:
        assert "fuzz.yaml" in str(exc)
        return
    for manifest in manifests:
        assert manifest.obj["apiVersion"] and manifest.obj["kind"]
        assert manifest.ref.name


headers_for = {
    Provider.GITHUB: {"X-GitHub-Event": "push"},
    Provider.GITLAB: {"X-Gitlab-Event": "Push Hook"},
    Provider.GITEA: {"X-Gitea-Event": "push"},
    Provider.BITBUCKET: {"X-Event-Key": "repo:push"},
}


@BOUNDED
@given(
    st.sampled_from(list(Provider)),
    st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())),
)
def test_webhook_payloads_fail_only_with_bad_request(provider, body):
    try:
        event = parse_push(provider, headers_for[provider], body)
    except WebhookError as exc:
        assert exc.status == 400
        return
    if event is not None:
        assert isinstance(event.ref, str) and isinstance(event.urls, frozenset)


@BOUNDED
@given(
    st.sampled_from(list(Provider)),
    st.dictionaries(
        st.sampled_from(
            ["X-Hub-Signature-256", "X-Hub-Signature", "X-Gitlab-Token", "X-Gitea-Signature"]
        ),
        st.text(max_size=80),
        max_size=3,
    ),
    st.binary(max_size=100),
)
def test_forged_signatures_are_unauthorized(provider, headers, body):
    try:
        verify(provider, headers, body, b"the-real-secret")
    except WebhookError as exc:
        assert exc.status == 401
    else:
        raise AssertionError("a random signature was accepted")


ls_remote_lines = st.lists(
    st.tuples(
        st.text(alphabet="0123456789abcdef", min_size=40, max_size=40),
        st.one_of(
            st.just("refs/heads/main"),
            st.just("refs/tags/v1.2.3"),
            st.builds(lambda t: f"refs/tags/{t}", st.text(max_size=12)),
            st.builds(lambda t: f"refs/tags/{t}^{{}}", st.text(max_size=12)),
        ),
    ),
    max_size=20,
).map(lambda rows: "\n".join(f"{sha}\t{name}" for sha, name in rows))


@BOUNDED
@given(
    st.one_of(ls_remote_lines, st.text(max_size=200)),
    st.sampled_from(
        [
            GitRef(RefKind.BRANCH, "main"),
            GitRef(RefKind.TAG, "v1.2.3"),
            GitRef(RefKind.SEMVER, ">=1.0.0 <2.0.0"),
            GitRef(RefKind.SEMVER, "^1"),
        ]
    ),
)
def test_ref_resolution_fails_only_with_source_errors(output, ref):
    refs = parse_ls_remote(output)
    try:
        concrete, sha = select(ref, refs, "https://example.com/r.git")
    except SourceError as exc:
        assert exc.reason == "RefNotFound"
        return
    assert concrete.kind in (RefKind.BRANCH, RefKind.TAG)
    assert sha in refs.values()


@BOUNDED
@given(st.lists(st.text(max_size=12), max_size=10), st.text(max_size=20))
def test_semver_ranges_fail_only_as_invalid_spec(tags, expression):
    try:
        chosen = highest_matching(tags, expression)
    except InvalidSpecError as exc:
        assert exc.reason == "InvalidSemver"
        return
    assert chosen is None or chosen in tags


@BOUNDED
@given(st.text(max_size=30))
def test_durations_fail_only_as_invalid_spec(text):
    with contextlib.suppress(InvalidSpecError):
        assert parse_duration(text, field_name="spec.interval") >= 0


@BOUNDED
@given(st.text(max_size=120))
def test_url_normalisation_is_idempotent_and_never_keeps_credentials(url):
    normal = normalize_repo_url(url)
    assert normalize_repo_url(normal) == normal
    secret_url = f"https://bot:s3cr3t-{len(url)}@host/{url}"
    assert "s3cr3t" not in normalize_repo_url(secret_url)
    assert "s3cr3t" not in redact(secret_url)


@BOUNDED
@given(
    st.dictionaries(st.text(max_size=8), json_values, max_size=6),
    st.dictionaries(st.text(max_size=8), json_values, max_size=6),
)
def test_field_diff_handles_any_json(desired, live):
    try:
        changes = field_changes({"kind": "ConfigMap", **desired}, {"kind": "ConfigMap", **live})
    except GitOpsError:
        raise AssertionError("diff must not fail") from None
    # "" is RFC 6901's pointer to the whole object, which deepdiff may report as changed.
    assert all(change.path and change.pointer[:1] in ("", "/") for change in changes)
