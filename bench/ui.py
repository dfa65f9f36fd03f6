"""The web UI at 1000 Applications: first render of the list page (the server's time and
in Chromium) and the latency of a live update (status patched -> visible on the page
through server-sent events). Prints medians.

    PYTHONPATH=hack .venv/bin/python bench/ui.py [--apps 1000] [--runs 15]

A control plane of its own (no operator: the status is written through the status
subresource), the UI as a process, a ServiceAccount token to sign in with (the UI
reviews it and impersonates it, as for a person), Debian's Chromium through Selenium.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hack"))  # run as a script

from gitops_operator.api import API_VERSION, GROUP
from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef
from localcluster import LocalCluster, free_name, install_crds
from uiprocess import UiProcess, browser_missing, chromium, service_account_token

NAMESPACES = 10
VIEWER = "bench-viewer"


def status(health: str, n: int) -> dict[str, Any]:
    """A status as the operator writes it for an Application of 20 objects with a full
    history: what the list page must not read whole, 1000 times."""
    revision = f"main@sha1:{n:040x}"
    return {
        "inventory": {
            "entries": [{"id": f"bench_obj-{k}_apps_Deployment", "v": "apps/v1"} for k in range(20)]
        },
        "history": [
            {
                "revision": revision,
                "result": "Succeeded",
                "startedAt": "2026-01-01T00:00:00Z",
                "finishedAt": "2026-01-01T00:00:20Z",
                "changes": {"configured": 3},
                "message": "applied revision " + revision,
            }
            for _ in range(10)
        ],
        "health": health,
        "sync": "Synced",
        "lastAppliedRevision": revision,
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if health == "Healthy" else "False",
                "reason": "Bench",
                "message": f"applied revision {n}",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }


def create_apps(kube: KubeClient, count: int) -> list[tuple[str, str]]:
    names = [(f"bench-{i % NAMESPACES}", f"app-{i:04d}") for i in range(count)]
    for i in range(NAMESPACES):
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{i}"}})

    def one(item: tuple[str, str]) -> None:
        ns, name = item
        kube.apply(
            {
                "apiVersion": API_VERSION,
                "kind": "Application",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"sourceRef": {"name": "repo"}, "path": "app"},
            }
        )
        ref = ObjectRef(GROUP, "Application", ns, name)
        kube.patch_status(API_VERSION, ref, status("Healthy", int(name[4:])))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, names))
    return names


def viewer_token(cluster: LocalCluster, kube: KubeClient) -> str:
    rbac = "rbac.authorization.k8s.io/v1"
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": VIEWER, "namespace": "default"},
        }
    )
    kube.apply(
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": VIEWER},
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "resources": ["applications"],
                    "verbs": ["get", "list", "watch", "patch"],
                }
            ],
        }
    )
    kube.apply(
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": VIEWER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": VIEWER,
            },
            "subjects": [{"kind": "ServiceAccount", "name": VIEWER, "namespace": "default"}],
        }
    )
    return service_account_token(cluster.api, "default", VIEWER)


def server_ms(url: str, token: str, accept: str = "text/html") -> float:
    headers = {"Authorization": f"Bearer {token}", "Accept": accept}
    request = urllib.request.Request(url, headers=headers)
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


NAVIGATION = """
const nav = performance.getEntriesByType('navigation')[0];
const timing = Object.fromEntries(nav.serverTiming.map(t => [t.name, t.duration]));
return [nav.responseEnd - nav.startTime, nav.domContentLoadedEventEnd - nav.startTime,
        window.paintedAt || -1, timing.api || -1, timing.html || -1];
"""

PAINTED = """
document.addEventListener('DOMContentLoaded', () => requestAnimationFrame(() =>
  setTimeout(() => { window.paintedAt = performance.now(); }, 0)));
"""
"""Set on every page: the first frame after the whole table is in the document (a paint
timing entry is not always recorded by headless Chromium)."""

WATCH_ROW = """
const key = arguments[0], wanted = arguments[1];
window.seenAt = null;
const row = document.querySelector(`tr[data-key="${key}"]`);
const cell = row.querySelector('[data-cell="health"]');
new MutationObserver((_, observer) => {
  if (cell.textContent.trim() === wanted && window.seenAt === null) {
    window.seenAt = performance.timeOrigin + performance.now();
    observer.disconnect();
  }
}).observe(cell, {subtree: true, childList: true, characterData: true});
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    missing = browser_missing()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    with LocalCluster(name=free_name(f"gitops-ui-bench-{os.getpid()}")) as cluster:
        kube = install_crds(cluster.client("bench"))
        started = time.monotonic()
        names = create_apps(kube, args.apps)
        print(f"{len(names)} Applications in {time.monotonic() - started:.0f} s")
        token = viewer_token(cluster, kube)
        with UiProcess(cluster.kubeconfig, work) as ui:
            measure(ui, kube, token, names, args.runs)
    return 0


def measure(
    ui: UiProcess, kube: KubeClient, token: str, names: list[tuple[str, str]], runs: int
) -> None:
    server_ms(f"{ui.url}/", token)  # warm: discovery, connections
    server = [server_ms(f"{ui.url}/", token) for _ in range(runs)]
    server_json = [server_ms(f"{ui.url}/", token, "application/json") for _ in range(runs)]
    driver = chromium()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PAINTED})
    try:
        driver.get(f"{ui.url}/login")
        driver.find_element("id", "token").send_keys(token)
        driver.find_element("css selector", "form.login button").click()
        time.sleep(1)
        loads = []
        for _ in range(runs):
            driver.get(f"{ui.url}/")
            wait_painted(driver)
            loads.append(driver.execute_script(NAVIGATION))
        rows = driver.execute_script("return document.querySelectorAll('tr[data-key]').length")
        wait_live(driver)
        keys = driver.execute_script(
            "return [...document.querySelectorAll('tr[data-key]')].map(r => r.dataset.key)"
        )
        latencies = []
        for i in range(runs):
            ns, name = keys[(i * 37) % len(keys)].split("/")
            wanted = "Degraded" if i % 2 == 0 else "Progressing"
            driver.execute_script(WATCH_ROW, f"{ns}/{name}", wanted)
            time.sleep(0.2)
            sent = time.time() * 1000
            kube.patch_status(
                API_VERSION, ObjectRef(GROUP, "Application", ns, name), status(wanted, i)
            )
            seen = None
            deadline = time.monotonic() + 10
            while seen is None and time.monotonic() < deadline:
                time.sleep(0.02)
                seen = driver.execute_script("return window.seenAt")
            latencies.append(seen - sent if seen is not None else float("inf"))
        page_ms, page_latencies = application_page(driver, ui, kube, names[0], runs)
    finally:
        driver.quit()
    print(f"\nlist page of {len(names)} Applications ({rows} rows a page), {runs} runs, medians:")
    print(f"| server: GET / | {statistics.median(server):.0f} ms |")
    print(f"| server: GET / as JSON, all rows | {statistics.median(server_json):.0f} ms |")
    print(f"| of which: the API server's list, as the person | {_median(loads, 3):.0f} ms |")
    print(f"| of which: the HTML | {_median(loads, 4):.0f} ms |")
    print(f"| Chromium: response end | {_median(loads, 0):.0f} ms |")
    painted = _median(loads, 2)
    print(f"| Chromium: the rows painted (the frame after DOMContentLoaded) | {painted:.0f} ms |")
    print(f"| Chromium: DOMContentLoaded | {_median(loads, 1):.0f} ms |")
    print(
        f"| Application page ({names[0][0]}/{names[0][1]}): Chromium response end | "
        f"{statistics.median(page_ms):.0f} ms |"
    )
    print(
        f"| live update: status patched -> Application page shows it | "
        f"{statistics.median(page_latencies):.0f} ms (max {max(page_latencies):.0f}) |"
    )
    print(
        f"| live update: status patched -> row changed on the page | "
        f"{statistics.median(latencies):.0f} ms (max {max(latencies):.0f}) |"
    )


WATCH_PAGE = """
const wanted = arguments[0];
window.seenAt = null;
new MutationObserver((_, observer) => {
  const cell = document.querySelector('[data-field="Health"]');
  if (cell && cell.textContent.trim() === wanted && window.seenAt === null) {
    window.seenAt = performance.timeOrigin + performance.now();
    observer.disconnect();
  }
}).observe(document.getElementById('main'), {subtree: true, childList: true, characterData: true});
"""


def application_page(
    driver: Any, ui: UiProcess, kube: KubeClient, app: tuple[str, str], runs: int
) -> tuple[list[float], list[float]]:
    """One Application's page: its load, and a status change reaching it (the page
    fetches itself again when its watch says the Application changed)."""
    ns, name = app
    ref = ObjectRef(GROUP, "Application", ns, name)
    kube.patch_status(API_VERSION, ref, status("Healthy", 0))  # whatever the list part did
    url = f"{ui.url}/apps/{ns}/{name}"
    loads = []
    for _ in range(runs):
        driver.get(url)
        loads.append(driver.execute_script(NAVIGATION)[0])
    wait_live(driver)
    latencies = []
    for i in range(runs):
        wanted = "Degraded" if i % 2 == 0 else "Healthy"
        driver.execute_script(WATCH_PAGE, wanted)
        time.sleep(0.3)
        sent = time.time() * 1000
        kube.patch_status(API_VERSION, ObjectRef(GROUP, "Application", ns, name), status(wanted, i))
        latencies.append(seen_at(driver) - sent)
    return loads, latencies


def wait_painted(driver: Any) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not driver.execute_script("return window.paintedAt"):
        time.sleep(0.02)


def seen_at(driver: Any) -> float:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen = driver.execute_script("return window.seenAt")
        if seen is not None:
            return float(seen)
        time.sleep(0.02)
    return float("inf")


def _median(loads: list[list[float]], index: int) -> float:
    return statistics.median(load[index] for load in loads)


def wait_live(driver: Any) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (
            driver.execute_script("return document.getElementById('live-status').textContent")
            == "Live updates on."
        ):
            return
        time.sleep(0.1)
    raise RuntimeError("the list page never went live")


if __name__ == "__main__":
    sys.exit(main())
