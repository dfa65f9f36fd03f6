"""Notifications from the operator process on the real control plane: Providers and
Alerts, delivered to local HTTP receivers (generic, generic-hmac, Slack- and
Teams-shaped) and to a recorder of the GitHub and GitLab commit-status APIs."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from giteaserver import GiteaServer, gitea_binary
from githostrecorder import GitHostRecorder
from gitops_operator.api import API_VERSION

from .apps import application, configmap, deployment, repository
from .receivers import Receiver
from .support import condition, events_with, get_status, wait_for
from .test_reconcile import synced_to
from .test_rollback import reconciled_again, rolled_back
from .test_sources import secret
from .test_tenancy import operator_with


def provider(namespace: str, name: str, type_: str, address: str = "", **spec) -> dict:
    return {
        "apiVersion": API_VERSION,
        "kind": "Provider",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": type_, **({"address": address} if address else {}), **spec},
    }


def alert(namespace: str, name: str, provider_name: str, **spec) -> dict:
    sources = [{"kind": "Application", "name": "app"}]
    return {
        "apiVersion": API_VERSION,
        "kind": "Alert",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"providerRef": {"name": provider_name}, "eventSources": sources, **spec},
    }


def provider_ready(kube, namespace, name):
    status = get_status(kube, "Provider", namespace, name)
    return status if condition(status).get("status") == "True" else None


def watch_ready(kube, namespace, *names):
    """The operator has read these Providers (and so their Alerts' events are routed)."""
    for name in names:
        wait_for(lambda n=name: provider_ready(kube, namespace, n), timeout=30, what=f"{name}")


def sync_app(kube, repo, namespace, files, **spec) -> str:
    """The repository has its artifact before the Application exists: its first Event
    is its sync's, not a wait for the source."""
    sha = repo.commit(files, "first")
    kube.apply(repository(namespace, repo.url))
    wait_for(
        lambda: get_status(kube, "GitRepository", namespace, "app").get("artifact"),
        timeout=30,
        what="the artifact",
    )
    kube.apply(application(namespace, **spec))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="first revision")
    return sha


def received(receiver: Receiver, count: int, what: str):
    return wait_for(
        lambda: receiver.received if len(receiver.received) >= count else None,
        timeout=30,
        what=what,
    )


def deliveries(operator, provider_label: str) -> dict[str, float]:
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10)
        .read()
        .decode()
    )
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "gitops_notification_deliveries_total" and (
                s.labels.get("provider") == provider_label
            ):
                out[s.labels["result"]] = s.value
            if s.name == "gitops_notification_delivery_latency_seconds_count" and (
                s.labels.get("provider") == provider_label
            ):
                out["latency_count"] = s.value
    return out


def test_generic_hmac_is_signed_flux_shaped_and_recorded(kube, operator, repo, namespace):
    key = uuid.uuid4().hex
    with Receiver(hmac_key=key) as receiver:
        kube.apply(secret(namespace, "hook-key", token=key))
        kube.apply(
            provider(
                namespace,
                "hook",
                "generic-hmac",
                receiver.url + "/hook",
                secretRef={"name": "hook-key"},
            )
        )
        kube.apply(alert(namespace, "all", "hook", summary="staging", eventMetadata={"env": "stg"}))
        watch_ready(kube, namespace, "hook")
        sha = sync_app(kube, repo, namespace, {"app/a.yaml": configmap("a", color="blue")})
        (first, *_) = received(receiver, 1, "a notification")
        assert first.verified is True and first.path == "/hook"
        assert first.headers["X-Signature"].startswith("sha256=")
        body = first.json
        assert body["involvedObject"]["kind"] == "Application"
        assert body["involvedObject"]["namespace"] == namespace
        assert body["involvedObject"]["name"] == "app" and body["involvedObject"]["uid"]
        assert body["reason"] == "ReconciliationSucceeded" and body["severity"] == "info"
        assert body["metadata"] == {
            "env": "stg",
            "summary": "staging",
            "revision": f"main@sha1:{sha}",
        }
        assert key not in first.body.decode()

        status = wait_for(
            lambda: (
                (s := get_status(kube, "Provider", namespace, "hook")).get("lastDelivery") and s
            ),
            timeout=20,
            what="lastDelivery",
        )
        last = status["lastDelivery"]
        assert (last["result"], last["httpCode"], last["attempts"]) == ("Succeeded", 200, 1)
        assert condition(status)["status"] == "True" and key not in str(status)
        counted = wait_for(
            lambda: (d := deliveries(operator, f"{namespace}/hook")).get("succeeded") and d,
            timeout=10,
            what="the deliveries metric",
        )
        assert counted["succeeded"] >= 1 and counted["latency_count"] >= 1


def test_a_wrong_key_is_refused_and_reported_in_status_without_retries(
    kube, operator, repo, namespace
):
    with Receiver(hmac_key="the-right-key") as receiver:
        kube.apply(secret(namespace, "hook-key", token="a-wrong-key"))
        kube.apply(
            provider(
                namespace, "hook", "generic-hmac", receiver.url, secretRef={"name": "hook-key"}
            )
        )
        kube.apply(alert(namespace, "all", "hook"))
        watch_ready(kube, namespace, "hook")
        sync_app(kube, repo, namespace, {"app/a.yaml": configmap("a")})

        def failed():
            status = get_status(kube, "Provider", namespace, "hook")
            return status if condition(status).get("status") == "False" else None

        status = wait_for(failed, timeout=30, what="the failed delivery")
        assert condition(status)["reason"] == "DeliveryFailed"
        assert status["lastDelivery"]["httpCode"] == 401
        assert status["lastDelivery"]["attempts"] == 1, "a 4xx is not retried"
        assert "a-wrong-key" not in str(status)
        assert [r.verified for r in receiver.received] == [False]


def test_a_provider_outage_is_retried_with_backoff(kube, operator, repo, namespace):
    with Receiver() as receiver:
        receiver.answers = [503, 502]
        kube.apply(provider(namespace, "hook", "generic", receiver.url))
        kube.apply(alert(namespace, "all", "hook"))
        watch_ready(kube, namespace, "hook")
        sync_app(kube, repo, namespace, {"app/a.yaml": configmap("a")})
        received(receiver, 3, "the third attempt")
        status = wait_for(
            lambda: (
                (s := get_status(kube, "Provider", namespace, "hook")).get("lastDelivery") and s
            ),
            timeout=20,
            what="lastDelivery",
        )
        assert (status["lastDelivery"]["result"], status["lastDelivery"]["attempts"]) == (
            "Succeeded",
            3,
        )
        assert len({r.body for r in receiver.received}) == 1, "the same notification, again"


def test_only_real_changes_notify(kube, operator, repo, namespace):
    """fluxcd/flux2#626: an unchanged reconcile notifies nothing, and an unchanged
    object is not reported as configured."""
    with Receiver() as receiver:
        kube.apply(provider(namespace, "hook", "generic", receiver.url))
        kube.apply(alert(namespace, "all", "hook"))
        watch_ready(kube, namespace, "hook")
        files = {"app/a.yaml": configmap("a", color="blue"), "app/b.yaml": configmap("b")}
        sync_app(kube, repo, namespace, files)
        received(receiver, 1, "the first sync's notification")
        assert receiver.reasons() == ["ReconciliationSucceeded"]

        reconciled_again(kube, namespace)  # a pass with nothing to do
        reconciled_again(kube, namespace)
        changed = repo.commit({"app/a.yaml": configmap("a", color="green")}, "one change")
        wait_for(lambda: synced_to(kube, namespace, changed), timeout=60, what="the change")
        received(receiver, 2, "the change's notification")
        # per Provider, deliveries keep their order: nothing came between the two syncs
        assert receiver.reasons() == ["ReconciliationSucceeded", "ReconciliationSucceeded"]
        second = receiver.received[1].json
        assert second["metadata"]["revision"] == f"main@sha1:{changed}"
        assert "1 configured" in second["message"] and "1 unchanged" in second["message"]


def test_slack_and_teams_payloads(kube, operator, repo, namespace):
    with Receiver() as slack, Receiver() as teams:
        kube.apply(
            provider(namespace, "slack", "slack", slack.url, channel="#deploys", username="gitops")
        )
        kube.apply(provider(namespace, "teams", "msteams", teams.url))
        kube.apply(alert(namespace, "to-slack", "slack", eventReasons=["ReconciliationSucceeded"]))
        kube.apply(alert(namespace, "to-teams", "teams", inclusionList=["^Applied revision"]))
        watch_ready(kube, namespace, "slack", "teams")
        sha = sync_app(kube, repo, namespace, {"app/a.yaml": configmap("a")})
        (s, *_) = received(slack, 1, "the Slack message")
        (t, *_) = received(teams, 1, "the Teams message")
        msg = s.json
        assert (msg["channel"], msg["username"]) == ("#deploys", "gitops")
        (attachment,) = msg["attachments"]
        assert attachment["color"] == "good"
        assert attachment["author_name"] == f"application/app.{namespace}"
        assert {"title": "revision", "value": f"main@sha1:{sha}", "short": False} in attachment[
            "fields"
        ]
        card = t.json
        assert card["type"] == "message"
        (content,) = card["attachments"]
        assert content["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert content["content"]["type"] == "AdaptiveCard"
        assert any(
            f.get("value") == f"main@sha1:{sha}"
            for block in content["content"]["body"]
            for f in block.get("facts", [])
        )


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_commit_statuses_follow_each_revision(kube, operator, repo, namespace, kind):
    recorder = GitHostRecorder(kind).start()
    try:
        kube.apply(secret(namespace, "host-token", token=recorder.token))
        kube.apply(
            provider(
                namespace, "host", kind, f"{recorder.url}/org/app", secretRef={"name": "host-token"}
            )
        )
        kube.apply(alert(namespace, "statuses", "host"))
        watch_ready(kube, namespace, "host")
        good = sync_app(
            kube, repo, namespace, {"app/web.yaml": deployment("web")}, healthTimeout="10s"
        )
        context = f"gitops-operator/{namespace}/app"
        success = "success"
        failure = "failed" if kind == "gitlab" else "failure"

        def states(sha):
            return [s["state"] for s in recorder.statuses if s["sha"] == sha]

        wait_for(lambda: success in states(good), timeout=30, what="success on the good commit")
        # pending only if the pass that applied it found it still progressing
        assert states(good) in (["pending", success], [success])
        before = states(good)
        assert {s["context"] for s in recorder.statuses} == {context}

        bad = repo.commit({"app/web.yaml": deployment("web", never_ready=True)}, "never ready")
        wait_for(lambda: rolled_back(kube, namespace), timeout=60, what="the rollback")
        wait_for(lambda: failure in states(bad), timeout=30, what="failure on the bad commit")
        assert states(bad) == ["pending", failure]
        assert "RolledBack" in recorder.statuses[-1]["description"]
        assert states(good) == before, "the good commit is left as it was"
    finally:
        recorder.stop()


def test_a_bad_alert_is_reported_in_its_status_and_an_event(kube, operator, namespace):
    kube.apply(alert(namespace, "bad", "hook", inclusionList=["(?<=look)behind"]))

    def invalid():
        status = get_status(kube, "Alert", namespace, "bad")
        return status if condition(status).get("status") == "False" else None

    status = wait_for(invalid, timeout=30, what="Ready=False")
    assert condition(status)["reason"] == "InvalidAlert"
    assert "not a valid regular expression" in condition(status)["message"]
    assert events_with(kube, namespace, "bad", "InvalidAlert")[0]["type"] == "Warning"


def test_the_examples_are_admitted_and_valid(kube, operator, namespace):
    path = Path(__file__).resolve().parents[2] / "examples" / "notifications.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        kube.apply(doc)
    providers = [d["metadata"]["name"] for d in docs if d["kind"] == "Provider"]
    alerts = [d["metadata"]["name"] for d in docs if d["kind"] == "Alert"]
    assert len(providers) == 4 and len(alerts) == 4
    watch_ready(kube, namespace, *providers)
    for name in alerts:
        wait_for(
            lambda n=name: (
                condition(get_status(kube, "Alert", namespace, n)).get("status") == "True"
            ),
            timeout=30,
            what=f"Alert {name} valid",
        )


def test_an_address_inside_the_cluster_or_machine_is_refused(kube, operator, repo, namespace):
    """Provider addresses follow the repository URL rule: the operator allows 127.0.0.1
    here (GITOPS_ALLOWED_GIT_HOSTS), not the name localhost, though it points there."""
    with Receiver() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        kube.apply(provider(namespace, "hook", "generic", f"http://localhost:{port}/x"))
        kube.apply(alert(namespace, "all", "hook"))
        watch_ready(kube, namespace, "hook")
        sync_app(kube, repo, namespace, {"app/a.yaml": configmap("a")})

        def refused():
            status = get_status(kube, "Provider", namespace, "hook")
            return status if condition(status).get("status") == "False" else None

        status = wait_for(refused, timeout=30, what="the refusal")
        assert condition(status)["reason"] == "HostNotAllowed"
        assert status["lastDelivery"].get("httpCode") is None, "no connection was made"
        assert receiver.received == []


def test_cross_namespace_event_sources_are_refused_by_default(kube, operator, namespace):
    """The operator's default (GITOPS_NO_CROSS_NAMESPACE_REFS unset: true) refuses an
    Alert that listens to another namespace's objects; its own namespace is fine."""
    other = [{"kind": "Application", "name": "*", "namespace": "default"}]
    with operator_with(operator, GITOPS_NO_CROSS_NAMESPACE_REFS=None):
        kube.apply(alert(namespace, "elsewhere", "hook", eventSources=other))
        kube.apply(alert(namespace, "own", "hook"))

        def ready_status(name, value):
            status = get_status(kube, "Alert", namespace, name)
            return status if condition(status).get("status") == value else None

        status = wait_for(lambda: ready_status("elsewhere", "False"), timeout=60, what="refusal")
        assert condition(status)["reason"] == "CrossNamespaceRef"
        wait_for(lambda: ready_status("own", "True"), timeout=30, what="the own-namespace Alert")


@pytest.fixture(scope="module")
def gitea(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GiteaServer]:
    if gitea_binary() is None:
        pytest.skip("Gitea is not built: run `make binaries` (hack/build-gitea.sh)")
    with GiteaServer(tmp_path_factory.mktemp("gitea")) as server:
        yield server


def test_commit_statuses_on_a_real_gitea(kube, operator, gitea, namespace):
    """The repository lives on a real Gitea: the operator fetches it from there and marks
    its commits there, as Gitea records them."""
    name = f"app-{uuid.uuid4().hex[:8]}"
    gitea.create_repo(name)
    good = gitea.push(name, {"app/web.yaml": deployment("web")}, message="good")
    kube.apply(secret(namespace, "gitea-token", token=gitea.token))
    kube.apply(
        provider(
            namespace, "gitea", "gitea", gitea.repo_url(name), secretRef={"name": "gitea-token"}
        )
    )
    kube.apply(alert(namespace, "statuses", "gitea"))
    watch_ready(kube, namespace, "gitea")
    kube.apply(repository(namespace, gitea.clone_url(name)))
    kube.apply(application(namespace, healthTimeout="10s"))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=90, what="the good revision")
    context = f"gitops-operator/{namespace}/app"

    def states(sha):  # oldest first; Gitea lists the newest first
        return [s["status"] for s in reversed(gitea.statuses(name, sha)) if s["context"] == context]

    wait_for(lambda: "success" in states(good), timeout=30, what="success on Gitea")
    # pending only if the pass that applied it found it still progressing
    assert states(good) in (["pending", "success"], ["success"])
    assert gitea.combined_status(name, good)["state"] == "success"

    bad = gitea.push(name, {"app/web.yaml": deployment("web", never_ready=True)}, message="bad")
    wait_for(lambda: rolled_back(kube, namespace), timeout=90, what="the rollback")
    wait_for(lambda: "failure" in states(bad), timeout=30, what="failure on Gitea")
    assert states(bad) == ["pending", "failure"]
    assert gitea.combined_status(name, bad)["state"] == "failure"
