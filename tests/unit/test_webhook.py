import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import logging
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gitops_operator.deliveries import RefusalLog
from gitops_operator.errors import WebhookError
from gitops_operator.webhook import (
    Provider,
    PushEvent,
    delivery_id,
    make_app,
    normalize_repo_url,
    parse_push,
    verify,
)

FIXTURES = Path(__file__).parent / "fixtures" / "webhook"
SECRET = b"It's a Secret to Everybody"

GITHUB_REPO = "github.com/codertocat/hello-world"
GITLAB_REPO = "gitlab.example.com/platform/infra/cluster-config"
GITEA_REPO = "git.example.com/ops/deploy"
BITBUCKET_REPO = "bitbucket.org/acme/deploy"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def hmac_hex(body: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def signed_headers(
    provider: Provider, body: bytes, event: str | None = None, secret: bytes = SECRET
) -> dict[str, str]:
    """The headers the provider itself would send with ``body``."""
    if provider is Provider.GITHUB:
        return {
            "X-GitHub-Event": event or "push",
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "X-Hub-Signature-256": "sha256=" + hmac_hex(body, secret),
        }
    if provider is Provider.GITLAB:
        return {
            "X-Gitlab-Event": event or "Push Hook",
            "Idempotency-Key": "908a6d9e-45fd-46c8-97e6-c4f350f219dd",
            "X-Gitlab-Token": secret.decode(),
        }
    if provider is Provider.GITEA:
        return {
            "X-Gitea-Event": event or "push",
            "X-Gitea-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
            "X-Gitea-Signature": hmac_hex(body, secret),
        }
    return {
        "X-Event-Key": event or "repo:push",
        "X-Request-UUID": "afe3ef8c-2d35-4fa7-bb67-1d7a0b9c5a3c",
        "X-Hub-Signature": "sha256=" + hmac_hex(body, secret),
    }


PUSH_FIXTURES = {
    Provider.GITHUB: ("github_push.json", GITHUB_REPO),
    Provider.GITLAB: ("gitlab_push.json", GITLAB_REPO),
    Provider.GITEA: ("gitea_push.json", GITEA_REPO),
    Provider.BITBUCKET: ("bitbucket_push.json", BITBUCKET_REPO),
}


# --- URL normalisation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/org/repo",
        "https://github.com/org/repo.git",
        "https://github.com/org/repo.git/",
        "https://user:tok@github.com/org/repo",
        "https://GitHub.COM/Org/Repo",
        "http://github.com:443/org/repo",
        "ssh://git@github.com/org/repo.git",
        "ssh://git@github.com:22/org/repo",
        "git@github.com:org/repo.git",
        "github.com:org/repo",
        "git://github.com/org/repo.git",
        "https://github.com//org/repo?tab=readme#top",
        "  https://github.com/org/repo  ",
    ],
)
def test_urls_of_the_same_repository_normalise_to_host_and_path(url: str) -> None:
    assert normalize_repo_url(url) == "github.com/org/repo"


def test_scp_style_url_with_subgroups_matches_its_https_form() -> None:
    ssh = normalize_repo_url("git@gitlab.example.com:platform/infra/cluster-config.git")
    https = normalize_repo_url("https://gitlab.example.com/platform/infra/cluster-config")
    assert ssh == https == GITLAB_REPO


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("https://github.com/org/repo", "https://github.com/org/repo2"),
        ("https://github.com/org/repo", "https://gitlab.com/org/repo"),
        ("https://github.com/org/repo", "https://github.com/other/repo"),
        ("https://github.com/org/repo", "https://github.com/org/repo/sub"),
    ],
)
def test_different_repositories_stay_different(left: str, right: str) -> None:
    assert normalize_repo_url(left) != normalize_repo_url(right)


def test_ipv6_host_stays_bracketed() -> None:
    assert normalize_repo_url("https://[::1]:8443/org/repo.git") == "[::1]/org/repo"


@pytest.mark.parametrize(
    "url", ["https://bot:ghp_TOKEN@github.com/org/repo", "https://bot:ghp_TOKEN@[bad/org/repo"]
)
def test_normalised_url_never_carries_credentials(url: str) -> None:
    assert "ghp_TOKEN" not in normalize_repo_url(url)


@pytest.mark.parametrize("url", ["", ":", "::::", "[", "http://[", "git@", "@:", "\x00", "é://x"])
def test_normalising_garbage_never_raises(url: str) -> None:
    assert isinstance(normalize_repo_url(url), str)


# --- verification -------------------------------------------------------------------------


@pytest.mark.parametrize("provider", list(Provider))
def test_delivery_signed_with_the_secret_verifies(provider: Provider) -> None:
    body = fixture(PUSH_FIXTURES[provider][0])
    verify(provider, signed_headers(provider, body), body, SECRET)


@pytest.mark.parametrize("provider", list(Provider))
def test_delivery_signed_with_another_secret_is_rejected_401(provider: Provider) -> None:
    body = fixture(PUSH_FIXTURES[provider][0])
    with pytest.raises(WebhookError) as err:
        verify(provider, signed_headers(provider, body, secret=b"other"), body, SECRET)
    assert (err.value.status, err.value.reason) == (401, "unauthorized")


@pytest.mark.parametrize("provider", [p for p in Provider if p is not Provider.GITLAB])
def test_tampered_body_is_rejected_401(provider: Provider) -> None:
    body = fixture(PUSH_FIXTURES[provider][0])
    headers = signed_headers(provider, body)
    tampered = body.replace(b"main", b"evil", 1)
    with pytest.raises(WebhookError) as err:
        verify(provider, headers, tampered, SECRET)
    assert err.value.status == 401


@pytest.mark.parametrize("provider", list(Provider))
def test_delivery_without_signature_header_is_rejected_401(provider: Provider) -> None:
    body = fixture(PUSH_FIXTURES[provider][0])
    headers = {
        k: v
        for k, v in signed_headers(provider, body).items()
        if "signature" not in k.lower() and "token" not in k.lower()
    }
    with pytest.raises(WebhookError) as err:
        verify(provider, headers, body, SECRET)
    assert err.value.status == 401


def test_headers_are_case_insensitive() -> None:
    body = fixture("github_push.json")
    headers = {k.lower(): v for k, v in signed_headers(Provider.GITHUB, body).items()}
    verify(Provider.GITHUB, headers, body, SECRET)
    upper = {k.upper(): v for k, v in headers.items()}
    assert parse_push(Provider.GITHUB, upper, body) is not None


def test_uppercase_hex_signature_is_accepted() -> None:
    body = fixture("gitea_push.json")
    verify(Provider.GITEA, {"X-Gitea-Signature": hmac_hex(body).upper()}, body, SECRET)


def test_forgejo_signature_header_is_accepted() -> None:
    body = fixture("gitea_push.json")
    headers = {"X-Forgejo-Event": "push", "X-Forgejo-Signature": hmac_hex(body)}
    verify(Provider.GITEA, headers, body, SECRET)
    event = parse_push(Provider.GITEA, headers, body)
    assert event is not None and GITEA_REPO in event.urls


@pytest.mark.parametrize("provider", [Provider.GITHUB, Provider.BITBUCKET])
def test_sha1_signature_is_not_accepted(provider: Provider) -> None:
    body = fixture(PUSH_FIXTURES[provider][0])
    sha1 = hmac.new(SECRET, body, hashlib.sha1).hexdigest()
    headers = {"X-Hub-Signature": f"sha1={sha1}", "X-Hub-Signature-256": f"sha1={sha1}"}
    with pytest.raises(WebhookError):
        verify(provider, headers, body, SECRET)


def test_gitlab_wrong_token_is_rejected_401() -> None:
    with pytest.raises(WebhookError) as err:
        verify(Provider.GITLAB, {"X-Gitlab-Token": "guess"}, b"{}", SECRET)
    assert err.value.status == 401


@pytest.mark.parametrize("provider", list(Provider))
def test_empty_secret_never_verifies(provider: Provider) -> None:
    body = b"{}"
    with pytest.raises(WebhookError):
        verify(provider, signed_headers(provider, body, secret=b""), body, b"")


@pytest.mark.parametrize("provider", list(Provider))
def test_hostile_header_values_only_ever_raise_401(provider: Provider) -> None:
    values = ["", " ", "sha256=", "sha256", "=", "é" * 64, "sha256=\udcff", "\x00", "sha256=" * 9]
    for value in values:
        headers = {
            "X-Hub-Signature-256": value,
            "X-Hub-Signature": value,
            "X-Gitea-Signature": value,
            "X-Gitlab-Token": value,
        }
        with pytest.raises(WebhookError) as err:
            verify(provider, headers, b"{}", SECRET)
        assert err.value.status == 401


# --- parsing ------------------------------------------------------------------------------


def parse(provider: Provider, body: bytes, event: str | None = None) -> PushEvent | None:
    return parse_push(provider, signed_headers(provider, body, event), body)


def test_github_push_names_every_clone_url_ref_and_after_commit() -> None:
    event = parse(Provider.GITHUB, fixture("github_push.json"))
    assert event == PushEvent(
        Provider.GITHUB,
        frozenset({GITHUB_REPO}),
        "refs/heads/main",
        "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    )


def test_github_ping_is_not_a_push() -> None:
    assert parse(Provider.GITHUB, fixture("github_ping.json"), event="ping") is None


def test_github_branch_deletion_has_no_commit() -> None:
    doc = json.loads(fixture("github_push.json"))
    doc.update(after="0" * 40, deleted=True, head_commit=None)
    event = parse(Provider.GITHUB, json.dumps(doc).encode())
    assert event is not None and event.sha == ""


def test_gitlab_push_uses_checkout_sha_and_project_urls() -> None:
    event = parse(Provider.GITLAB, fixture("gitlab_push.json"))
    assert event == PushEvent(
        Provider.GITLAB,
        frozenset({GITLAB_REPO}),
        "refs/heads/main",
        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "908a6d9e-45fd-46c8-97e6-c4f350f219dd",
    )


def test_gitlab_tag_push_names_the_tag_ref() -> None:
    event = parse(Provider.GITLAB, fixture("gitlab_tag_push.json"), event="Tag Push Hook")
    assert event is not None
    assert (event.ref, event.sha) == (
        "refs/tags/v1.2.0",
        "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
    )


def test_gitlab_push_without_checkout_sha_falls_back_to_after() -> None:
    doc = json.loads(fixture("gitlab_push.json"))
    doc["checkout_sha"] = None
    event = parse(Provider.GITLAB, json.dumps(doc).encode())
    assert event is not None and event.sha == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"


def test_gitlab_system_hook_push_is_a_push_and_merge_request_is_not() -> None:
    body = fixture("gitlab_push.json")
    assert parse(Provider.GITLAB, body, event="System Hook") is not None
    assert parse(Provider.GITLAB, body, event="Merge Request Hook") is None


def test_gitea_push_drops_the_ssh_port_from_urls() -> None:
    event = parse(Provider.GITEA, fixture("gitea_push.json"))
    assert event == PushEvent(
        Provider.GITEA,
        frozenset({GITEA_REPO}),
        "refs/heads/main",
        "bffeb74224043ba2feb48d137756c8a9331c449a",
        "f6266f16-1bf3-46a5-9ea4-602e06ead473",
    )


def test_bitbucket_push_builds_the_branch_ref_from_the_change() -> None:
    event = parse(Provider.BITBUCKET, fixture("bitbucket_push.json"))
    assert event == PushEvent(
        Provider.BITBUCKET,
        frozenset({BITBUCKET_REPO}),
        "refs/heads/main",
        "709d658dc5b6d6afcd46049c2f332ee3f515a67d",
        "afe3ef8c-2d35-4fa7-bb67-1d7a0b9c5a3c",
    )


def bitbucket_with_changes(changes: list[Any]) -> bytes:
    doc = json.loads(fixture("bitbucket_push.json"))
    doc["push"]["changes"] = changes
    return json.dumps(doc).encode()


def bitbucket_state(kind: str, name: str, sha: str) -> dict[str, Any]:
    return {"type": kind, "name": name, "target": {"type": "commit", "hash": sha}}


def test_bitbucket_tag_push_uses_the_newest_change() -> None:
    body = bitbucket_with_changes(
        [
            {"old": None, "new": bitbucket_state("branch", "main", "a" * 40)},
            {"old": None, "new": bitbucket_state("tag", "v1.2.0", "b" * 40)},
        ]
    )
    event = parse(Provider.BITBUCKET, body)
    assert event is not None and (event.ref, event.sha) == ("refs/tags/v1.2.0", "b" * 40)


def test_bitbucket_branch_deletion_names_the_ref_without_a_commit() -> None:
    body = bitbucket_with_changes(
        [{"old": bitbucket_state("branch", "old", "c" * 40), "new": None}]
    )
    event = parse(Provider.BITBUCKET, body)
    assert event is not None and (event.ref, event.sha) == ("refs/heads/old", "")


def test_bitbucket_push_without_changes_is_not_a_push() -> None:
    assert parse(Provider.BITBUCKET, bitbucket_with_changes([])) is None


def test_bitbucket_non_push_event_is_ignored() -> None:
    assert parse(Provider.BITBUCKET, b"{}", event="repo:commit_status_updated") is None


@pytest.mark.parametrize("provider", list(Provider))
def test_missing_event_header_is_a_bad_request(provider: Provider) -> None:
    body = fixture(PUSH_FIXTURES[provider][0])
    with pytest.raises(WebhookError) as err:
        parse_push(provider, {}, body)
    assert (err.value.status, err.value.reason) == (400, "bad_request")


WRONG_SHAPES = [
    b"",
    b"not json",
    b"\xff\xfe\x00garbage",
    b"[]",
    b'"a string"',
    b"42",
    b"null",
    b"{}",
    b'{"ref": null, "repository": null, "project": null, "push": null}',
    b'{"ref": 7, "repository": {"clone_url": 7}}',
    b'{"ref": "refs/heads/main", "repository": {}, "project": {}}',
    b'{"push": {"changes": [null]}, "repository": {"links": {"html": {"href": "https://x/y"}}}}',
    b'{"push": {"changes": [{"new": {"type": "hg"}}]}, "repository": {"links": {"html": {}}}}',
    b'{"push": {"changes": {}}, "repository": {"links": {"html": {"href": "https://x/y"}}}}',
    b"[" * 100_000,
    b'{"ref": ' + b"9" * 10_000 + b"}",
]


@pytest.mark.parametrize("provider", list(Provider))
@pytest.mark.parametrize("body", WRONG_SHAPES, ids=range(len(WRONG_SHAPES)))
def test_payload_of_the_wrong_shape_is_a_bad_request(provider: Provider, body: bytes) -> None:
    with pytest.raises(WebhookError) as err:
        parse(provider, body)
    assert err.value.status == 400


def mutations(node: Any) -> Iterator[Any]:
    """Copies of ``node`` with one value somewhere inside replaced by a value of another shape."""
    replacements: list[Any] = [None, [], {}, "", 0, True, "x", [None], {"": None}]
    yield from replacements
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in children:
        for mutated in mutations(child):
            copied = copy.copy(node)
            copied[key] = mutated
            yield copied


@pytest.mark.parametrize("provider", list(Provider))
def test_fuzzed_payloads_only_ever_raise_bad_request(provider: Provider) -> None:
    doc = json.loads(fixture(PUSH_FIXTURES[provider][0]))
    rng = random.Random(1234)
    bodies = [json.dumps(m).encode() for m in mutations(doc)]
    bodies += [rng.randbytes(rng.randrange(1, 512)) for _ in range(500)]
    assert len(bodies) > 900
    for body in bodies:
        try:
            result = parse(provider, body)
        except WebhookError as err:
            assert err.status == 400, body
        else:
            assert result is None or isinstance(result, PushEvent)


# --- HTTP ---------------------------------------------------------------------------------


class Hooks:
    """The callbacks make_app needs, recording what they were called with."""

    def __init__(self, secrets: dict[Provider, bytes] | None = None, triggered: int = 1) -> None:
        self.secrets = {p: SECRET for p in Provider} if secrets is None else secrets
        self.triggered = triggered
        self.pushes: list[PushEvent] = []
        self.targets: list[tuple[str, str] | None] = []
        self.results: list[tuple[Provider | None, str]] = []
        self.secret_lookups = 0
        self.fail_push = False

    def resolve_secret(self, provider: Provider, target: tuple[str, str] | None) -> bytes | None:
        self.secret_lookups += 1
        return self.secrets.get(provider)

    async def on_push(self, event: PushEvent, target: tuple[str, str] | None) -> int:
        if self.fail_push:
            raise RuntimeError("boom")
        self.pushes.append(event)
        self.targets.append(target)
        return self.triggered

    def on_result(self, provider: Provider | None, result: str) -> None:
        self.results.append((provider, result))

    def app(self, max_body_bytes: int = 1_048_576) -> web.Application:
        return make_app(
            self.resolve_secret,
            self.on_push,
            max_body_bytes=max_body_bytes,
            on_result=self.on_result,
        )


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[int]:
    """Serve ``app`` on a real socket on 127.0.0.1; yields the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


Scenario = Callable[[int, aiohttp.ClientSession], Awaitable[Any]]


def run(app: web.Application, scenario: Scenario) -> Any:
    async def main() -> Any:
        async with serving(app) as port, aiohttp.ClientSession() as session:
            return await asyncio.wait_for(scenario(port, session), timeout=10)

    return asyncio.run(main())


async def post(
    session: aiohttp.ClientSession, port: int, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with session.post(f"http://127.0.0.1:{port}{path}", data=body, headers=headers) as resp:
        return resp.status, await resp.json()


def deliver(
    hooks: Hooks, provider: Provider, body: bytes, headers: dict[str, str], **app_options: Any
) -> tuple[int, dict[str, Any]]:
    async def scenario(port: int, session: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
        return await post(session, port, f"/hooks/{provider}", body, headers)

    result: tuple[int, dict[str, Any]] = run(hooks.app(**app_options), scenario)
    return result


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, dict[str, Any]]:
    """Write ``request`` byte for byte and read one response: for framing a client would fix."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    assert match is not None
    body = await reader.readexactly(int(match[1]))
    return int(head.split(b" ", 2)[1]), json.loads(body)


async def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await exchange(reader, writer, request)
    finally:
        writer.close()


def raw_post(provider: Provider, headers: dict[str, str], framing: str) -> bytes:
    lines = [f"POST /hooks/{provider} HTTP/1.1", "Host: 127.0.0.1", framing]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body: bytes, size: int = 100) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize("provider", list(Provider))
def test_signed_push_from_each_provider_is_accepted_202(provider: Provider) -> None:
    name, repo = PUSH_FIXTURES[provider]
    body = fixture(name)
    hooks = Hooks(triggered=2)
    status, answer = deliver(hooks, provider, body, signed_headers(provider, body))
    assert (status, answer) == (202, {"triggered": 2})
    [event] = hooks.pushes
    assert event.provider is provider and repo in event.urls
    assert hooks.results == [(provider, "accepted")]


def test_push_for_an_unknown_repository_is_202_and_counted_as_unmatched() -> None:
    body = fixture("github_push.json")
    hooks = Hooks(triggered=0)
    status, answer = deliver(hooks, Provider.GITHUB, body, signed_headers(Provider.GITHUB, body))
    assert (status, answer) == (202, {"triggered": 0})
    assert hooks.results == [(Provider.GITHUB, "unmatched")]


def test_github_push_with_wrong_signature_is_rejected_401() -> None:
    body = fixture("github_push.json")
    headers = signed_headers(Provider.GITHUB, body, secret=b"not the secret")
    hooks = Hooks()
    status, answer = deliver(hooks, Provider.GITHUB, body, headers)
    assert (status, answer) == (401, {"error": "unauthorized"})
    assert hooks.pushes == []
    assert hooks.results == [(Provider.GITHUB, "unauthorized")]


def test_github_push_with_tampered_body_is_rejected_401() -> None:
    body = fixture("github_push.json")
    headers = signed_headers(Provider.GITHUB, body)
    hooks = Hooks()
    tampered = body.replace(b"refs/heads/main", b"refs/heads/evil")
    status, _ = deliver(hooks, Provider.GITHUB, tampered, headers)
    assert status == 401 and hooks.pushes == []


def test_gitlab_push_with_wrong_token_is_rejected_401_and_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = fixture("gitlab_push.json")
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guessed-token"}
    hooks = Hooks()
    with caplog.at_level(logging.DEBUG):
        status, _ = deliver(hooks, Provider.GITLAB, body, headers)
    assert status == 401 and hooks.pushes == []
    assert "guessed-token" not in caplog.text and SECRET.decode() not in caplog.text


@pytest.mark.parametrize("provider", list(Provider))
def test_push_without_signature_header_is_rejected_401(provider: Provider) -> None:
    body = fixture(PUSH_FIXTURES[provider][0])
    headers = {"X-GitHub-Event": "push", "X-Gitlab-Event": "Push Hook", "X-Event-Key": "repo:push"}
    hooks = Hooks()
    status, _ = deliver(hooks, provider, body, headers)
    assert status == 401 and hooks.pushes == []
    assert hooks.results == [(provider, "unauthorized")]


@pytest.mark.parametrize("configured", [None, b""])
def test_provider_without_a_secret_rejects_even_signed_pushes_401(configured: bytes | None) -> None:
    body = fixture("gitea_push.json")
    secrets = {} if configured is None else {Provider.GITEA: configured}
    hooks = Hooks(secrets=secrets)
    status, _ = deliver(
        hooks, Provider.GITEA, body, signed_headers(Provider.GITEA, body, secret=b"")
    )
    assert status == 401 and hooks.pushes == []
    assert hooks.results == [(Provider.GITEA, "unauthorized")]


def test_oversized_body_is_rejected_413_without_calling_on_push() -> None:
    body = fixture("github_push.json")
    hooks = Hooks()
    status, answer = deliver(
        hooks, Provider.GITHUB, body, signed_headers(Provider.GITHUB, body), max_body_bytes=512
    )
    assert (status, answer) == (413, {"error": "too_large"})
    assert hooks.pushes == [] and hooks.secret_lookups == 0
    assert hooks.results == [(Provider.GITHUB, "too_large")]


def test_oversized_content_length_is_rejected_413_before_the_body_is_sent() -> None:
    hooks = Hooks()
    request = raw_post(Provider.GITHUB, {"X-GitHub-Event": "push"}, "Content-Length: 1000000000")

    async def scenario(port: int, _: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
        return await raw_exchange(port, request)  # the body never follows the headers

    assert run(hooks.app(), scenario) == (413, {"error": "too_large"})
    assert hooks.pushes == [] and hooks.results == [(Provider.GITHUB, "too_large")]


def test_chunked_body_without_content_length_is_capped_while_streaming_413() -> None:
    body = fixture("github_push.json")
    hooks = Hooks()
    request = raw_post(
        Provider.GITHUB, signed_headers(Provider.GITHUB, body), "Transfer-Encoding: chunked"
    )

    async def scenario(port: int, _: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
        return await raw_exchange(port, request + chunked(body))

    assert run(hooks.app(max_body_bytes=1000), scenario) == (413, {"error": "too_large"})
    assert hooks.pushes == [] and hooks.results == [(Provider.GITHUB, "too_large")]


def test_chunked_body_within_the_limit_is_accepted_202() -> None:
    body = fixture("github_push.json")
    hooks = Hooks()
    request = raw_post(
        Provider.GITHUB, signed_headers(Provider.GITHUB, body), "Transfer-Encoding: chunked"
    )

    async def scenario(port: int, _: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
        return await raw_exchange(port, request + chunked(body))

    assert run(hooks.app(max_body_bytes=len(body)), scenario) == (202, {"triggered": 1})
    assert len(hooks.pushes) == 1


def test_body_longer_than_its_content_length_is_cut_at_the_declared_length() -> None:
    body = fixture("github_push.json")
    hooks = Hooks()
    # Declares 64 bytes (under the limit); the rest of the payload follows the answer.
    request = raw_post(Provider.GITHUB, signed_headers(Provider.GITHUB, body), "Content-Length: 64")

    async def scenario(port: int, session: aiohttp.ClientSession) -> list[int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            status, _ = await exchange(reader, writer, request + body[:64])
            writer.write(body[64:])  # not a request: the server refuses it and hangs up
            await writer.drain()
            await reader.read()
        finally:
            writer.close()
        again, _ = await post(
            session, port, "/hooks/github", body, signed_headers(Provider.GITHUB, body)
        )
        return [status, again]

    # Only the declared 64 bytes were signed-checked, so the signature of the whole fails.
    assert run(hooks.app(max_body_bytes=1000 + len(body)), scenario) == [401, 202]
    assert hooks.results == [(Provider.GITHUB, "unauthorized"), (Provider.GITHUB, "accepted")]


def test_signed_malformed_json_is_rejected_400() -> None:
    body = b'{"ref": "refs/heads/main", "repository": '
    hooks = Hooks()
    status, answer = deliver(hooks, Provider.GITEA, body, signed_headers(Provider.GITEA, body))
    assert (status, answer) == (400, {"error": "bad_request"})
    assert hooks.results == [(Provider.GITEA, "bad_request")]


@pytest.mark.parametrize(
    ("provider", "name", "event"),
    [
        (Provider.GITHUB, "github_ping.json", "ping"),
        (Provider.GITLAB, "gitlab_push.json", "Merge Request Hook"),
        (Provider.GITEA, "gitea_push.json", "create"),
        (Provider.BITBUCKET, "bitbucket_push.json", "repo:updated"),
    ],
)
def test_non_push_event_is_acknowledged_200_ignored_and_triggers_nothing(
    provider: Provider, name: str, event: str
) -> None:
    body = fixture(name)
    hooks = Hooks()
    status, answer = deliver(hooks, provider, body, signed_headers(provider, body, event))
    assert (status, answer) == (200, {"triggered": 0, "ignored": True})
    assert hooks.pushes == [] and hooks.results == [(provider, "ignored")]


# --- replays and per-repository paths -----------------------------------------------------


def deliver_all(
    hooks: Hooks, requests: list[tuple[str, bytes, dict[str, str]]], app: web.Application
) -> list[tuple[int, dict[str, Any]]]:
    """POST each (path, body, headers) in turn to one app."""

    async def scenario(port: int, session: aiohttp.ClientSession) -> list[Any]:
        return [await post(session, port, *request) for request in requests]

    result: list[tuple[int, dict[str, Any]]] = run(app, scenario)
    return result


@pytest.mark.parametrize("provider", list(Provider))
def test_a_replayed_delivery_is_answered_200_and_wakes_nothing(provider: Provider) -> None:
    body = fixture(PUSH_FIXTURES[provider][0])
    headers = signed_headers(provider, body)
    hooks = Hooks()
    request = (f"/hooks/{provider}", body, headers)
    answers = deliver_all(hooks, [request, request], hooks.app())
    assert answers == [(202, {"triggered": 1}), (200, {"triggered": 0, "duplicate": True})]
    assert len(hooks.pushes) == 1
    assert hooks.results == [(provider, "accepted"), (provider, "duplicate")]


def test_deliveries_with_other_ids_or_none_are_each_handled() -> None:
    body = fixture("github_push.json")
    first = signed_headers(Provider.GITHUB, body)
    second = {**first, "X-GitHub-Delivery": "another-delivery"}
    anonymous = {k: v for k, v in first.items() if k != "X-GitHub-Delivery"}
    hooks = Hooks()
    requests = [("/hooks/github", body, h) for h in (first, second, anonymous, anonymous)]
    answers = deliver_all(hooks, requests, hooks.app())
    assert [status for status, _ in answers] == [202, 202, 202, 202]
    assert len(hooks.pushes) == 4


def test_a_delivery_whose_handling_failed_may_be_retried() -> None:
    body = fixture("github_push.json")
    hooks = Hooks()
    hooks.fail_push = True
    request = ("/hooks/github", body, signed_headers(Provider.GITHUB, body))
    app = hooks.app()

    async def scenario(port: int, session: aiohttp.ClientSession) -> list[int]:
        failed, _ = await post(session, port, *request)
        hooks.fail_push = False
        retried, _ = await post(session, port, *request)
        return [failed, retried]

    assert run(app, scenario) == [500, 202]
    assert len(hooks.pushes) == 1


def test_a_forged_delivery_does_not_use_up_its_id() -> None:
    body = fixture("github_push.json")
    genuine = signed_headers(Provider.GITHUB, body)
    forged = signed_headers(Provider.GITHUB, body, secret=b"guessed")
    hooks = Hooks()
    requests = [("/hooks/github", body, forged), ("/hooks/github", body, genuine)]
    assert [s for s, _ in deliver_all(hooks, requests, hooks.app())] == [401, 202]


def test_a_repository_path_names_its_target_to_the_secret_and_the_push() -> None:
    body = fixture("gitea_push.json")
    looked_up: list[tuple[str, str] | None] = []
    hooks = Hooks()

    def own_secret(provider: Provider, target: tuple[str, str] | None) -> bytes | None:
        looked_up.append(target)
        return b"team-a token" if target == ("team-a", "app") else None

    app = make_app(own_secret, hooks.on_push, on_result=hooks.on_result)
    signed = signed_headers(Provider.GITEA, body, secret=b"team-a token")
    requests = [
        ("/hooks/gitea/team-a/app", body, signed),
        ("/hooks/gitea/team-b/app", body, signed),  # no secret of its own: refused
        ("/hooks/gitea", body, signed),  # the shared path knows no such secret
    ]
    answers = deliver_all(hooks, requests, app)
    assert [s for s, _ in answers] == [202, 401, 401]
    assert looked_up == [("team-a", "app"), ("team-b", "app"), None]
    assert hooks.targets == [("team-a", "app")]


@pytest.mark.parametrize(
    ("provider", "headers", "expected"),
    [
        (Provider.GITHUB, {"X-GitHub-Delivery": " g-1 "}, "g-1"),
        (Provider.GITLAB, {"Idempotency-Key": "k", "X-Gitlab-Event-UUID": "e"}, "k"),
        (Provider.GITLAB, {"X-Gitlab-Event-UUID": "e", "X-Gitlab-Webhook-UUID": "w"}, "e/w"),
        (Provider.GITLAB, {"X-Gitlab-Webhook-UUID": "w"}, ""),
        (Provider.GITEA, {"X-Forgejo-Delivery": "f"}, "f"),
        (Provider.GITEA, {"X-Gogs-Delivery": "g"}, "g"),
        (Provider.BITBUCKET, {"X-Request-UUID": "r"}, "r"),
        (Provider.BITBUCKET, {"X-Hook-UUID": "the hook, not the delivery"}, ""),
        (Provider.GITHUB, {"X-GitHub-Delivery": "x" * 1000}, "x" * 200),
    ],
)
def test_the_delivery_id_is_read_from_each_providers_header(
    provider: Provider, headers: dict[str, str], expected: str
) -> None:
    assert delivery_id(provider, headers) == expected


def test_unknown_provider_is_404() -> None:
    hooks = Hooks()

    async def scenario(port: int, session: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
        return await post(session, port, "/hooks/svn", b"{}", {})

    assert run(hooks.app(), scenario)[0] == 404
    assert hooks.results == [(None, "not_found")]


def test_failing_on_push_answers_500_and_the_app_keeps_serving() -> None:
    body = fixture("github_push.json")
    headers = signed_headers(Provider.GITHUB, body)
    hooks = Hooks()

    async def scenario(port: int, session: aiohttp.ClientSession) -> list[int]:
        hooks.fail_push = True
        first, _ = await post(session, port, "/hooks/github", body, headers)
        hooks.fail_push = False
        second, _ = await post(session, port, "/hooks/github", body, headers)
        return [first, second]

    assert run(hooks.app(), scenario) == [500, 202]
    assert [r for _, r in hooks.results] == ["error", "accepted"]


def test_failing_secret_lookup_answers_500() -> None:
    def broken(provider: Provider, target: tuple[str, str] | None) -> bytes | None:
        raise KeyError(provider)

    hooks = Hooks()
    app = make_app(broken, hooks.on_push, on_result=hooks.on_result)
    body = fixture("gitea_push.json")

    async def scenario(port: int, session: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
        return await post(session, port, "/hooks/gitea", body, signed_headers(Provider.GITEA, body))

    assert run(app, scenario) == (500, {"error": "internal"})
    assert hooks.results == [(Provider.GITEA, "error")]


def test_failing_on_result_callback_does_not_change_the_answer() -> None:
    def broken(provider: Provider | None, result: str) -> None:
        raise RuntimeError("metrics down")

    hooks = Hooks()
    app = make_app(hooks.resolve_secret, hooks.on_push, on_result=broken)
    body = fixture("bitbucket_push.json")

    async def scenario(port: int, session: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
        headers = signed_headers(Provider.BITBUCKET, body)
        return await post(session, port, "/hooks/bitbucket", body, headers)

    assert run(app, scenario) == (202, {"triggered": 1})


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "webhook refused" in r.getMessage()]


def test_a_flood_of_refusals_logs_one_line_then_one_count_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    refusals = RefusalLog(interval=60, clock=clock)
    with caplog.at_level(logging.INFO, logger="gitops_operator.webhook"):
        for _ in range(5000):  # 5,000 bad deliveries in 30 s
            refusals.refused("github", "unauthorized", "signature does not match")
            clock.now += 30 / 5000
        assert refusal_lines(caplog) == [
            "webhook refused provider=github reason=unauthorized suppressed=0:"
            " signature does not match"
        ]
        clock.now += 31
        refusals.refused("github", "unauthorized", "signature does not match")
    assert refusal_lines(caplog)[1] == (
        "webhook refused provider=github reason=unauthorized suppressed=4999 in the last 61s:"
        " signature does not match"
    )


def test_refusals_are_limited_per_provider_and_reason(caplog: pytest.LogCaptureFixture) -> None:
    refusals = RefusalLog(interval=60, clock=FakeClock())
    with caplog.at_level(logging.INFO, logger="gitops_operator.webhook"):
        for provider, reason in [("github", "unauthorized"), ("github", "too_large")] * 3:
            refusals.refused(provider, reason, "no")
        refusals.refused("gitlab", "unauthorized", "no")
    assert [line.split(" suppressed")[0] for line in refusal_lines(caplog)] == [
        "webhook refused provider=github reason=unauthorized",
        "webhook refused provider=github reason=too_large",
        "webhook refused provider=gitlab reason=unauthorized",
    ]


def test_repeated_bad_deliveries_to_the_server_log_once(caplog: pytest.LogCaptureFixture) -> None:
    body = fixture("github_push.json")
    headers = signed_headers(Provider.GITHUB, body, secret=b"not the secret")
    hooks = Hooks()

    async def scenario(port: int, session: aiohttp.ClientSession) -> list[int]:
        return [(await post(session, port, "/hooks/github", body, headers))[0] for _ in range(50)]

    with caplog.at_level(logging.INFO, logger="gitops_operator.webhook"):
        assert run(hooks.app(), scenario) == [401] * 50
    assert len(refusal_lines(caplog)) == 1
    assert hooks.results == [(Provider.GITHUB, "unauthorized")] * 50, "every one is counted"


@pytest.mark.parametrize(
    "url",
    ["https://GitHub.com/Org/Repo.git/", "git@github.com:org/repo.git", "github.com/org/repo"],
)
def test_a_normalised_url_reads_back_as_itself(url):
    normal = normalize_repo_url(url)
    assert normal == "github.com/org/repo"
    assert normalize_repo_url(normal) == normal
