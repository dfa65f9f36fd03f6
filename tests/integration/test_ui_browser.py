"""The web UI in a real Chromium against the control plane and a running operator:
sign-in with a token, live updates, rollback from the timeline, RBAC through
impersonation, Events that name the person. With ``GITOPS_SCREENSHOTS_DIR`` set, the
tests save the README's screenshots there."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_operator.api import API_VERSION, GROUP, REQUESTED_AT_ANNOTATION
from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef
from localcluster import LocalCluster
from uiprocess import UiProcess, browser_missing, chromium, service_account_token

from .apps import application, configmap, deployment, repository
from .support import events_for, events_with, wait_for
from .test_reconcile import synced_to

pytestmark = pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "ok")

PEOPLE_NAMESPACE = "ui-people"
APPS = {"apiGroups": [GROUP], "resources": ["applications"]}
READ = ["get", "list", "watch"]


@dataclass(frozen=True)
class People:
    alice: str
    """Reads everything and may patch every Application (a ClusterRole)."""
    alice_name: str
    bob: str
    """May read and patch Applications in one namespace only (a Role there)."""
    bob_name: str
    bob_namespace: str


def _rules(patch: bool) -> list[dict[str, Any]]:
    return [
        {**APPS, "verbs": [*READ, *(["patch"] if patch else [])]},
        {"apiGroups": [GROUP], "resources": ["gitrepositories"], "verbs": READ},
        {
            "apiGroups": [""],
            "resources": ["events", "configmaps", "pods", "secrets"],
            "verbs": READ,
        },
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": READ},
    ]


@pytest.fixture(scope="module")
def people(cluster: LocalCluster, kube: KubeClient) -> Iterator[People]:
    suffix = uuid.uuid4().hex[:6]
    bob_namespace = f"ui-bob-{suffix}"
    for ns in (PEOPLE_NAMESPACE, bob_namespace):
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    rbac = "rbac.authorization.k8s.io/v1"
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": f"{who}-{suffix}", "namespace": PEOPLE_NAMESPACE},
        }
        for who in ("alice", "bob")
    ]
    objects += [
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": f"ui-editor-{suffix}"},
            "rules": _rules(patch=True),
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"ui-alice-{suffix}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"ui-editor-{suffix}",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": f"alice-{suffix}", "namespace": PEOPLE_NAMESPACE}
            ],
        },
        {
            "apiVersion": rbac,
            "kind": "Role",
            "metadata": {"name": "ui-bob", "namespace": bob_namespace},
            "rules": _rules(patch=True),
        },
        {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": {"name": "ui-bob", "namespace": bob_namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ui-bob"},
            "subjects": [
                {"kind": "ServiceAccount", "name": f"bob-{suffix}", "namespace": PEOPLE_NAMESPACE}
            ],
        },
    ]
    for obj in objects:
        kube.apply(obj)
    yield People(
        alice=service_account_token(cluster.api, PEOPLE_NAMESPACE, f"alice-{suffix}"),
        alice_name=f"system:serviceaccount:{PEOPLE_NAMESPACE}:alice-{suffix}",
        bob=service_account_token(cluster.api, PEOPLE_NAMESPACE, f"bob-{suffix}"),
        bob_name=f"system:serviceaccount:{PEOPLE_NAMESPACE}:bob-{suffix}",
        bob_namespace=bob_namespace,
    )
    kube.delete(
        rbac, ObjectRef("rbac.authorization.k8s.io", "ClusterRoleBinding", "", f"ui-alice-{suffix}")
    )
    kube.delete(
        rbac, ObjectRef("rbac.authorization.k8s.io", "ClusterRole", "", f"ui-editor-{suffix}")
    )
    kube.delete("v1", ObjectRef("", "Namespace", "", bob_namespace))


@pytest.fixture(scope="module")
def ui(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiProcess]:
    with UiProcess(cluster.kubeconfig, tmp_path_factory.mktemp("ui")) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    driver = chromium()
    yield driver
    driver.quit()


# -- helpers -----------------------------------------------------------------------------


def shoot(driver: Any, name: str) -> None:
    """The whole page (up to 3000 pixels high) as docs/screenshots/NAME.png would show it."""
    where = os.environ.get("GITOPS_SCREENSHOTS_DIR")
    if not where:
        return
    Path(where).mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(int(height), 600), 3000))
    driver.save_screenshot(str(Path(where) / f"{name}.png"))
    driver.set_window_size(1400, 1000)


def sign_in(driver: Any, ui: UiProcess, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{ui.url}/")
    assert driver.current_url == f"{ui.url}/login", "no token, no page"
    field = driver.find_element(By.ID, "token")
    assert driver.find_element(By.CSS_SELECTOR, "label[for=token]").text == "Bearer token"
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait_for(lambda: driver.current_url == f"{ui.url}/", timeout=15, what="the list page")


def text_of(driver: Any, css: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        return str(driver.find_element(By.CSS_SELECTOR, css).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def press(driver: Any, label: str) -> None:
    """Press the button ``label``: from the keyboard (focus, then Enter), again when a
    live refresh replaced the page's content in between."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def pressed() -> bool:
        try:
            button = driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']")
            button.send_keys("\n")
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        return True

    wait_for(pressed, timeout=15, what=f"the {label} button")


def said(driver: Any, words: str) -> None:
    """Wait for the page's notice of the last action (the page after the form's POST)."""
    wait_for(lambda: words in text_of(driver, ".notice"), timeout=15, what=f"notice {words!r}")


def live(driver: Any) -> bool:
    return text_of(driver, "#live-status") == "Live updates on."


def request(url: str, token: str, method: str = "GET") -> tuple[int, str]:
    """One request with ``Authorization: Bearer`` (as curl would); status and body."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


RECORD_HEALTH = """
window.notReloaded = true;
window.seenHealth = [];
const note = () => {
  const cell = document.querySelector('[data-field="Health"]');
  const value = cell ? cell.textContent.trim() : '';
  if (value && window.seenHealth[window.seenHealth.length - 1] !== value) {
    window.seenHealth.push(value);
  }
};
note();
new MutationObserver(note).observe(document.getElementById('main'),
  {subtree: true, childList: true, characterData: true});
"""


# -- tests -------------------------------------------------------------------------------


def test_signed_in_person_sees_an_application_turn_healthy_live_after_a_push(
    kube, operator, repo, namespace, ui, people, browser
):
    first = repo.commit({"app/cm.yaml": configmap("settings", color="blue")}, "first")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=120, what="the first revision")

    sign_in(browser, ui, people.alice)
    assert people.alice_name in text_of(browser, "header .who")
    row = f'tr[data-key="{namespace}/app"]'
    wait_for(lambda: "Healthy" in text_of(browser, row), timeout=20, what="a Healthy row")
    shoot(browser, "applications")

    browser.get(f"{ui.url}/apps/{namespace}/app")
    wait_for(lambda: live(browser), timeout=15, what="the live connection")
    browser.execute_script(RECORD_HEALTH)
    second = repo.commit({"app/api.yaml": deployment("api", replicas=3)}, "add the api")

    def healthy_at_second() -> bool:
        return (
            second[:12] in text_of(browser, '[data-field="Revision"]')
            and text_of(browser, '[data-field="Health"]') == "Healthy"
        )

    wait_for(healthy_at_second, timeout=180, what="Healthy at the pushed revision, live")
    seen = browser.execute_script("return window.seenHealth")
    assert "Progressing" in seen, seen
    assert seen[-1] == "Healthy"
    assert browser.execute_script("return window.notReloaded") is True, "no page reload"
    objects = text_of(browser, "#objects")
    assert "Deployment (1)" in objects and "ConfigMap (1)" in objects, objects
    shoot(browser, "application")


def test_rollback_from_the_timeline_appears_live_and_leaves_an_event_naming_the_person(
    kube, operator, repo, namespace, ui, people, browser
):

    first = repo.commit({"app/cm.yaml": configmap("settings", color="blue")}, "blue")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=120, what="the first revision")
    second = repo.commit({"app/cm.yaml": configmap("settings", color="green")}, "green")
    wait_for(lambda: synced_to(kube, namespace, second), timeout=120, what="the second revision")

    sign_in(browser, ui, people.alice)
    browser.get(f"{ui.url}/apps/{namespace}/app")
    # The difference between two revisions of the history, rendered from Git.
    press(browser, "Compare")
    changes = wait_for(lambda: text_of(browser, "#changes"), timeout=60, what="the changes")
    assert "Changed ConfigMap" in changes and "data.color" in changes, changes
    assert '"blue"' not in changes and "blue" in changes and "green" in changes
    shoot(browser, "diff")
    browser.back()
    wait_for(lambda: live(browser), timeout=15, what="the live connection")
    browser.execute_script("window.notReloaded = true;")
    press(browser, f"Roll back to {first[:8]}")
    wait_for(
        lambda: f"requested by {people.alice_name}" in text_of(browser, ".notice"),
        timeout=15,
        what="the notice of the request",
    )
    browser.execute_script("window.notReloaded = true;")

    def rolled_back_on_timeline() -> bool:
        newest = text_of(browser, "#timeline li:first-child")
        return "RolledBack" in newest and f"Rolled back to main@{first[:8]}" in newest

    wait_for(rolled_back_on_timeline, timeout=60, what="the rollback on the timeline, live")
    assert browser.execute_script("return window.notReloaded") is True, "no page reload"
    shoot(browser, "timeline")

    event = events_with(kube, namespace, "app", "RollbackRequested")[0]
    assert event["message"] == (
        f"rollback to main@sha1:{first} requested by {people.alice_name} from the web UI"
    )

    # Read-only pages need no script: the server's HTML already holds the timeline.
    code, html = request(f"{ui.url}/apps/{namespace}/app", people.alice)
    assert code == 200 and f"Rolled back to <code>main@{first[:8]}</code>" in html
    code, html = request(f"{ui.url}/?namespace={namespace}", people.alice)
    assert code == 200 and f'data-key="{namespace}/app"' in html


def test_person_denied_an_application_neither_sees_it_nor_acts_on_it(
    kube, operator, namespace, ui, people, browser
):

    mine = people.bob_namespace
    kube.apply(application(mine, name="mine"))
    kube.apply(application(namespace, name="theirs"))

    sign_in(browser, ui, people.bob)
    wait_for(lambda: f"{mine}/mine" in browser.page_source, timeout=10, what="bob's Application")
    assert f'data-key="{namespace}/theirs"' not in browser.page_source
    shoot(browser, "restricted")

    browser.get(f"{ui.url}/apps/{namespace}/theirs")
    assert text_of(browser, "h1") == "Not found"

    # Not only the button: the API server itself refuses the impersonated patch.
    code, body = request(f"{ui.url}/apps/{namespace}/theirs/actions/sync", people.bob, "POST")
    assert code == 403, body
    assert "forbidden" in json.loads(body)["error"]
    theirs = kube.get(API_VERSION, ObjectRef(GROUP, "Application", namespace, "theirs")) or {}
    assert REQUESTED_AT_ANNOTATION not in (theirs["metadata"].get("annotations") or {})
    assert not [
        e for e in events_for(kube, namespace, "theirs") if e.get("reason") == "SyncRequested"
    ]

    # Where RBAC allows it, the same person acts, and the Event names them.
    browser.get(f"{ui.url}/apps/{mine}/mine")
    press(browser, "Sync now")
    said(browser, f"sync requested by {people.bob_name}")
    event = events_with(kube, mine, "mine", "SyncRequested")[0]
    assert event["message"] == f"sync requested by {people.bob_name} from the web UI"
    assert event["source"]["component"] == "gitops-operator-ui"

    def suspended() -> bool:
        live = kube.get(API_VERSION, ObjectRef(GROUP, "Application", mine, "mine")) or {}
        return bool(live["spec"].get("suspend"))

    press(browser, "Suspend")
    wait_for(suspended, timeout=10, what="spec.suspend set")
    said(browser, f"suspend requested by {people.bob_name}")
    press(browser, "Resume")
    wait_for(lambda: not suspended(), timeout=10, what="spec.suspend cleared")
    assert events_with(kube, mine, "mine", "ResumeRequested")


def test_objects_show_their_yaml_with_secret_values_masked_and_repositories_their_commit(
    kube, operator, repo, namespace, ui, people, browser
):
    import base64

    secret = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"password": "s3cr3t-value"},
        }
    )
    sha = repo.commit({"app/cm.yaml": configmap("settings", color="blue"), "app/s.yaml": secret})
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=120, what="the revision")

    base = f"{ui.url}/apps/{namespace}/app/object?apiVersion=v1&namespace={namespace}"
    code, html = request(f"{base}&kind=Secret&name=creds", people.alice)
    assert code == 200 and "password: &#x27;***&#x27;" in html, html[-1500:]
    encoded = base64.b64encode(b"s3cr3t-value").decode()
    assert "s3cr3t-value" not in html and encoded not in html
    code, html = request(f"{base}&kind=ConfigMap&name=settings", people.alice)
    assert code == 200 and "color: blue" in html
    code, html = request(f"{base}&kind=ConfigMap&name=not-owned", people.alice)
    assert "Not found, or you may not read it." in html

    sign_in(browser, ui, people.alice)
    browser.get(f"{ui.url}/repositories")
    row = text_of(browser, "table.repos")
    assert f"main@{sha[:8]}" in row and "Dev <dev@example.com>" in row, row
    shoot(browser, "repositories")


def test_no_token_no_page(ui):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{ui.url}/events/apps", timeout=10)
    assert refused.value.code == 401
    code, _ = request(f"{ui.url}/", "not-a-token")
    assert code == 401


def test_insecure_local_mode_serves_without_sign_in_on_loopback_only(
    cluster, kube, namespace, tmp_path
):
    kube.apply(application(namespace, name="local"))
    with UiProcess(cluster.kubeconfig, tmp_path, "--insecure-local") as local:
        with urllib.request.urlopen(f"{local.url}/?namespace={namespace}", timeout=20) as page:
            html = page.read().decode()
            cookie = page.headers["Set-Cookie"]
        assert f'data-key="{namespace}/local"' in html
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    refused = UiProcess(
        cluster.kubeconfig,
        tmp_path / "wide",
        "--insecure-local",
        "--host",
        "0.0.0.0",  # noqa: S104
    )
    with pytest.raises(RuntimeError, match=r"listens on 127\.0\.0\.1 only"):
        refused.start(timeout=20)


def test_the_charts_ui_role_is_all_the_ui_needs(cluster, kube, operator, people, tmp_path):
    """The UI run with a token of the chart's own ServiceAccount (not the admin's
    credentials): its ClusterRole must be enough to review tokens, impersonate a
    ServiceAccount token's user, groups and extras, and record Events."""
    import subprocess

    from gitops_operator.config import Settings

    release_namespace = f"ui-chart-{uuid.uuid4().hex[:6]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": release_namespace}})
    chart = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "gitops-operator"
    rendered = subprocess.run(
        [
            Settings().helm_binary,
            "template",
            "g",
            str(chart),
            "--namespace",
            release_namespace,
            "--set",
            "ui.enabled=true",
            "--show-only",
            "templates/ui.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    rbac = [d for d in docs if d["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")]
    assert len(rbac) == 3
    for doc in rbac:
        kube.apply(doc)
    account = next(d for d in rbac if d["kind"] == "ServiceAccount")["metadata"]["name"]
    token = service_account_token(cluster.api, release_namespace, account)
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "ui", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "ui"
    kubeconfig = tmp_path / "ui.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    mine = people.bob_namespace
    kube.apply(application(mine, name="charted"))
    try:
        with UiProcess(kubeconfig, tmp_path / "ui") as ui:
            code, html = request(f"{ui.url}/apps/{mine}/charted", people.bob)
            assert code == 200 and "Sync now" in html, html[:500]
            code, body = request(f"{ui.url}/apps/{mine}/charted/actions/sync", people.bob, "POST")
            assert code == 200, body
            event = events_with(kube, mine, "charted", "SyncRequested")[0]
            assert people.bob_name in event["message"]
    finally:
        for doc in rbac[1:]:
            kube.delete(
                doc["apiVersion"],
                ObjectRef("rbac.authorization.k8s.io", doc["kind"], "", doc["metadata"]["name"]),
            )
        kube.delete("v1", ObjectRef("", "Namespace", "", release_namespace))
