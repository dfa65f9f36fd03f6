"""Notifications: parsing Providers and Alerts, matching Events, payloads, the token
bucket and the dispatcher's ordering, retries and drops (plain data; no HTTP)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

import pytest

from gitops_operator.errors import InvalidSpecError
from gitops_operator.notify.delivery import Delivery, decoded, host_refusal
from gitops_operator.notify.dispatcher import Dispatcher, Limits
from gitops_operator.notify.matching import alert_matches, matching
from gitops_operator.notify.model import (
    NotifyEvent,
    ProviderType,
    Severity,
    parse_alert,
    parse_provider,
)
from gitops_operator.notify.notifier import Notifier
from gitops_operator.notify.payloads import (
    body_of,
    commit_state,
    description,
    generic,
    msteams,
    signature,
    slack,
    status_context,
)
from gitops_operator.notify.ratelimit import TokenBucket
from gitops_operator.notify.status import Result, delivery_status, validity_status
from gitops_operator.source.hosts import HostPolicy

SHA = "0123456789abcdef0123456789abcdef01234567"


def provider_body(**spec):
    return {
        "metadata": {"namespace": "team", "name": "hook"},
        "spec": {"type": "generic", "address": "http://127.0.0.1:1/x", **spec},
    }


def alert_body(**spec):
    base = {"providerRef": {"name": "hook"}, "eventSources": [{"kind": "Application", "name": "*"}]}
    return {"metadata": {"namespace": "team", "name": "a"}, "spec": {**base, **spec}}


def event(**fields):
    base = dict(
        kind="Application",
        namespace="team",
        name="web",
        reason="ReconciliationSucceeded",
        message="Applied revision: main@sha1:" + SHA,
        severity=Severity.INFO,
        timestamp="2026-01-01T00:00:00Z",
        revision="main@sha1:" + SHA,
        labels={"tier": "front"},
        commit_status=True,
    )
    return NotifyEvent(**{**base, **fields})


def alert(**spec):
    return parse_alert(alert_body(**spec), no_cross_namespace_refs=True)


# -- parsing -------------------------------------------------------------------------------


def test_provider_defaults_and_timeout_clamped():
    p = parse_provider(provider_body(timeout="5m", secretRef={"name": "s"}))
    assert (p.type, p.timeout, p.secret_name, p.suspend) == (ProviderType.GENERIC, 60.0, "s", False)
    assert parse_provider(provider_body()).timeout == 15.0


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"type": "pagerduty"}, "spec.type 'pagerduty'"),
        ({"address": ""}, "spec.address or a spec.secretRef"),
        ({"address": "ftp://x/y"}, "http or https"),
    ],
)
def test_provider_errors_say_which_field(spec, words):
    with pytest.raises(InvalidSpecError) as err:
        parse_provider(provider_body(**spec))
    assert words in err.value.message and err.value.reason == "InvalidProvider"


def test_alert_source_namespace_defaults_to_the_alerts_and_cross_namespace_is_refused():
    a = alert(eventSources=[{"kind": "GitRepository", "name": "repo"}])
    assert a.sources[0].namespace == "team"
    other = [{"kind": "Application", "name": "*", "namespace": "other"}]
    with pytest.raises(InvalidSpecError) as err:
        alert(eventSources=other)
    assert err.value.reason == "CrossNamespaceRef"
    allowed = parse_alert(alert_body(eventSources=other), no_cross_namespace_refs=False)
    assert allowed.sources[0].namespace == "other"


def test_alert_with_a_bad_regex_or_too_many_is_invalid():
    with pytest.raises(InvalidSpecError, match="not a valid regular expression") as err:
        alert(inclusionList=["(?<=x)y"])  # look-behind: not RE2, as in Flux
    assert err.value.reason == "InvalidAlert"
    with pytest.raises(InvalidSpecError, match="at most 32"):
        alert(exclusionList=["x"] * 33)


def test_a_catastrophic_pattern_runs_in_linear_time():
    a = alert(inclusionList=["(a+)+$"])
    assert not alert_matches(a, event(message="a" * 100_000 + "b"))


# -- matching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "fields", "matches"),
    [
        ({}, {}, True),
        ({"suspend": True}, {}, False),
        ({"eventSeverity": "error"}, {}, False),
        ({"eventSeverity": "error"}, {"severity": Severity.ERROR}, True),
        ({"eventSources": [{"kind": "Application", "name": "web"}]}, {}, True),
        ({"eventSources": [{"kind": "Application", "name": "api"}]}, {}, False),
        ({"eventSources": [{"kind": "GitRepository", "name": "*"}]}, {}, False),
        ({}, {"namespace": "other"}, False),
        (
            {
                "eventSources": [
                    {"kind": "Application", "name": "*", "matchLabels": {"tier": "front"}}
                ]
            },
            {},
            True,
        ),
        (
            {
                "eventSources": [
                    {"kind": "Application", "name": "*", "matchLabels": {"tier": "back"}}
                ]
            },
            {},
            False,
        ),
        ({"eventReasons": ["RolledBack"]}, {}, False),
        ({"eventReasons": ["RolledBack", "ReconciliationSucceeded"]}, {}, True),
        ({"inclusionList": ["^Applied"]}, {}, True),
        ({"inclusionList": ["^Rolled"]}, {}, False),
        ({"exclusionList": ["revision"]}, {}, False),
        ({"inclusionList": [".*"], "exclusionList": ["Applied"]}, {}, False),
    ],
)
def test_alert_matching_follows_flux(spec, fields, matches):
    assert alert_matches(alert(**spec), event(**fields)) is matches


def test_matching_is_stable_by_name():
    a, b = (
        alert(),
        parse_alert(
            {**alert_body(), "metadata": {"namespace": "team", "name": "0"}},
            no_cross_namespace_refs=True,
        ),
    )
    assert [x.name for x in matching([a, b], event())] == ["0", "a"]


# -- payloads ------------------------------------------------------------------------------


def test_generic_payload_is_flux_shaped_with_revision_and_summary():
    a = alert(summary="prod cluster", eventMetadata={"env": "prod", "revision": "mine"})
    body = generic(event(uid="u1"), a)
    assert body["involvedObject"] == {
        "apiVersion": "gitops-operator.dev/v1alpha1",
        "kind": "Application",
        "namespace": "team",
        "name": "web",
        "uid": "u1",
    }
    assert body["severity"] == "info" and body["reason"] == "ReconciliationSucceeded"
    assert body["timestamp"] == "2026-01-01T00:00:00Z"
    assert body["metadata"] == {
        "env": "prod",
        "summary": "prod cluster",
        "revision": "main@sha1:" + SHA,
    }


def test_hmac_signature_is_sha256_hex_of_the_exact_body():
    raw = body_of(event(), alert(), parse_provider(provider_body(type="generic-hmac")), "http://x")
    expected = hmac.new(b"key", raw, hashlib.sha256).hexdigest()
    assert signature(raw, b"key") == f"sha256={expected}"
    assert json.loads(raw)["reason"] == "ReconciliationSucceeded"


def test_slack_payload():
    p = parse_provider(provider_body(type="slack", channel="#ops", username="gitops"))
    msg = slack(event(severity=Severity.ERROR, reason="RolledBack"), alert(), p)
    assert msg["channel"] == "#ops" and msg["username"] == "gitops"
    (att,) = msg["attachments"]
    assert att["color"] == "danger" and att["author_name"] == "application/web.team"
    assert {"title": "revision", "value": "main@sha1:" + SHA, "short": False} in att["fields"]
    assert "RolledBack" in msg["text"]


def test_msteams_message_card_for_a_connector_and_adaptive_card_for_workflows():
    card = msteams(event(), alert(), "https://org.webhook.office.com/webhookb2/x")
    assert card["@type"] == "MessageCard" and card["sections"][0]["activityTitle"] == (
        "application/web.team"
    )
    wf = msteams(event(), alert(), "https://prod.westus.logic.azure.com/workflows/x")
    (attachment,) = wf["attachments"]
    assert wf["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard"


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"reason": "Progressing"}, "pending"),
        ({"reason": "WaveApplied"}, "pending"),
        ({}, "success"),
        ({"reason": "HealthCheckFailed", "severity": Severity.ERROR}, "failure"),
        ({"reason": "RolledBack", "severity": Severity.ERROR}, "failure"),
        ({"reason": "DriftDetected", "severity": Severity.ERROR, "commit_status": False}, None),
        ({"kind": "GitRepository", "reason": "NewArtifact"}, None),
        ({"revision": "main@sha1:short"}, None),
    ],
)
def test_commit_state_per_event(fields, state):
    assert commit_state(event(**fields)) == state


def test_commit_status_context_and_description_bounded():
    assert status_context(event()) == "gitops-operator/team/web"
    assert len(description(event(message="x" * 500))) == 140


# -- rate limit, status, secrets -----------------------------------------------------------


def test_token_bucket_burst_then_rate():
    now = [0.0]
    bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] = 1.5
    assert [bucket.take(), bucket.take()] == [True, False]


def test_delivery_status_keeps_no_secret_and_validity_does_not_undo_a_failure():
    failed = delivery_status(
        [], Result(False, "DeliveryFailed", "HTTP 500", code=500, attempts=4), generation=1, now="t"
    )
    assert failed["lastDelivery"]["httpCode"] == 500
    assert failed["conditions"][0]["status"] == "False"
    again = validity_status(
        failed["conditions"], error=None, generation=1, now="t2", valid_message="ok", observed=1
    )
    assert again["conditions"] == failed["conditions"]
    edited = validity_status(
        failed["conditions"], error=None, generation=2, now="t2", valid_message="ok", observed=1
    )
    assert edited["conditions"][0]["reason"] == "Valid", "a changed spec starts afresh"
    fixed = validity_status(
        validity_status(
            [], error=("InvalidProvider", "bad"), generation=1, now="t", valid_message=""
        )["conditions"],
        error=None,
        generation=2,
        now="t",
        valid_message="ok",
    )
    assert fixed["conditions"][0]["reason"] == "Valid"


def test_secret_data_is_decoded():
    assert decoded({"data": {"token": "c2VjcmV0Cg=="}}) == {"token": "secret"}
    assert decoded(None) is None


# -- dispatcher ----------------------------------------------------------------------------


class Recorder:
    def __init__(self, answers=None):
        self.answers = list(answers or [])
        self.sent: list[str] = []
        self.reports: list[Result] = []
        self.drops: list[str] = []
        self.done = threading.Event()
        self.expected = 1

    def send(self, d: Delivery) -> Result:
        self.sent.append(d.event.reason)
        return self.answers.pop(0) if self.answers else Result(True, "Succeeded", "ok", 200)

    def report(self, d, result, latency):
        self.reports.append(result)
        if len(self.reports) >= self.expected:
            self.done.set()

    def drop(self, provider, why):
        self.drops.append(why)


def dispatcher(rec: Recorder, **limits) -> Dispatcher:
    d = Dispatcher(rec.send, rec.report, rec.drop, Limits(**{"backoff": 0.01, **limits}))
    d.set_provider(("team", "hook"), parse_provider(provider_body()))
    d.set_alert(("team", "a"), alert())
    return d


def test_dispatcher_retries_with_backoff_then_reports_once():
    rec = Recorder([Result(False, "DeliveryFailed", "HTTP 503", 503, retryable=True)] * 2)
    d = dispatcher(rec)
    assert d.publish(event()) == 1
    assert rec.done.wait(5)
    d.stop()
    assert len(rec.sent) == 3 and rec.reports[0].ok and rec.reports[0].attempts == 3


def test_dispatcher_gives_up_after_the_bounded_attempts_and_not_on_a_4xx():
    rec = Recorder([Result(False, "DeliveryFailed", "HTTP 503", 503, retryable=True)] * 9)
    d = dispatcher(rec, attempts=3)
    d.publish(event())
    assert rec.done.wait(5)
    assert len(rec.sent) == 3 and not rec.reports[0].ok
    rec2 = Recorder([Result(False, "DeliveryFailed", "HTTP 400", 400)])
    d2 = dispatcher(rec2)
    d2.publish(event())
    assert rec2.done.wait(5)
    d.stop(), d2.stop()
    assert len(rec2.sent) == 1


def test_dispatcher_keeps_a_providers_order_and_counts_rate_limited_drops():
    rec = Recorder()
    rec.expected = 3
    d = dispatcher(rec, burst=3, rate=0.0001)
    for reason in ("Progressing", "WaveApplied", "ReconciliationSucceeded", "Extra"):
        d.publish(event(reason=reason))
    assert rec.done.wait(5)
    d.stop()
    assert rec.sent == ["Progressing", "WaveApplied", "ReconciliationSucceeded"]
    assert rec.drops == ["rate_limited"]


def test_dispatcher_skips_suspended_or_missing_providers_and_non_commit_events():
    rec = Recorder()
    d = dispatcher(rec)
    d.set_provider(("team", "hook"), parse_provider(provider_body(suspend=True)))
    assert d.publish(event()) == 0
    d.set_provider(("team", "hook"), None)
    assert d.publish(event()) == 0
    d.set_provider(("team", "hook"), parse_provider(provider_body(type="github")))
    assert d.publish(event(reason="DriftDetected", commit_status=False)) == 0
    assert d.publish(event(reason="Progressing")) == 1
    d.stop()


@pytest.mark.parametrize(
    ("address", "allowed", "reason"),
    [
        ("http://127.0.0.1:9/x", (), "HostNotAllowed"),
        ("http://169.254.169.254/latest/meta-data", (), "HostNotAllowed"),
        ("https://kube-dns.kube-system.svc/x", (), "HostNotAllowed"),
        ("http://localhost/x", (), "HostNotAllowed"),
        ("http://127.0.0.1:9/x", ("127.0.0.1",), None),
        ("http://10.1.2.3/x", ("10.0.0.0/8",), None),
        ("https://93.184.215.14/x", (), None),
    ],
)
def test_provider_addresses_follow_the_repository_url_rule(address, allowed, reason):
    refused = host_refusal(address, HostPolicy.parse(allowed))
    assert (refused.reason if refused else None) == reason
    if refused:
        assert "GITOPS_ALLOWED_GIT_HOSTS" in refused.message and "/x" not in refused.message


# -- the notifier's bookkeeping (no API calls on these paths) ------------------------------


def test_published_events_carry_the_revision_and_only_sync_events_drive_commit_statuses():
    notifier = Notifier(None, no_cross_namespace_refs=True)
    captured: list[NotifyEvent] = []
    notifier.dispatcher.publish = captured.append
    app = {
        "kind": "Application",
        "metadata": {"namespace": "team", "name": "web", "uid": "u", "labels": {"a": "b"}},
        "status": {"lastAttemptedRevision": "main@sha1:" + SHA},
    }
    notifier.publish(app, reason="DriftDetected", message="m", warning=True)
    notifier.publish(app, reason="Progressing", message="m", warning=False, revision="r@sha1:x")
    drift, progressing = captured
    assert (drift.revision, drift.commit_status, drift.severity) == (
        "main@sha1:" + SHA,
        False,
        Severity.ERROR,
    )
    assert drift.labels == {"a": "b"} and drift.uid == "u"
    assert (progressing.revision, progressing.commit_status) == ("r@sha1:x", True)


def test_a_bad_provider_is_forgotten_and_reported_once():
    notifier = Notifier(None, no_cross_namespace_refs=True)
    key = ("team", "hook")
    status, error = notifier.provider_changed(key, provider_body())
    assert error is None and status is not None and key in notifier.dispatcher.providers
    bad = {**provider_body(type="pager"), "status": status}
    status, error = notifier.provider_changed(key, bad)
    assert error is not None and error.reason == "InvalidProvider"
    assert key not in notifier.dispatcher.providers
    assert status is not None and status["conditions"][0]["reason"] == "InvalidProvider"
    again, _ = notifier.provider_changed(key, {**bad, "status": status})
    assert again is None, "nothing new to write: no second Event"
