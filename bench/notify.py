"""Notification delivery latency: from an Application turning Ready to a webhook
receiver getting its ReconciliationSucceeded notification.

    .venv/bin/python bench/notify.py                 # 9 Applications, median and range

One control plane, the operator, a GitRepository with a ConfigMap, a generic-hmac
Provider pointing at a local HTTP receiver (it checks the signature, as the tests' does)
and an Alert on every Application. Each run creates one Application; a poller (every
5 ms) notes when its Ready condition turns True at the revision, the receiver when the
notification arrives, both on this process's monotonic clock. What is measured is
what a user sees: the status write, then the Event, the match, the queue and the POST.
Results go in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hack"))  # run as a script

import yaml

from environment import NAMESPACE, OURS, Env, Options, environment
from gitops_operator.api import API_VERSION
from readiness import ready, ready_condition

KEY = "bench-hmac-key"


class Receiver:
    """Notes when each Application's ReconciliationSucceeded arrives (signature checked)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                now = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                expected = "sha256=" + hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(self.headers.get("X-Signature", ""), expected):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                else:
                    event = json.loads(body)
                    if event["reason"] == "ReconciliationSucceeded":
                        receiver.arrived.setdefault(event["involvedObject"]["name"], now)
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def notifications(env: Env, url: str) -> None:
    secret = base64.b64encode(KEY.encode()).decode()
    env.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hook", "namespace": NAMESPACE},
            "data": {"token": secret},
        }
    )
    env.kube.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "Provider",
            "metadata": {"name": "hook", "namespace": NAMESPACE},
            "spec": {"type": "generic-hmac", "address": url, "secretRef": {"name": "hook"}},
        }
    )
    env.kube.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "Alert",
            "metadata": {"name": "all", "namespace": NAMESPACE},
            "spec": {
                "providerRef": {"name": "hook"},
                "eventSources": [{"kind": "Application", "name": "*"}],
                "eventReasons": ["ReconciliationSucceeded"],
            },
        }
    )
    provider = (env.app_kind[0], env.app_kind[1], "providers")
    deadline = time.monotonic() + 60
    while ready_condition(env.get(provider, "hook")).get("status") != "True":
        if time.monotonic() > deadline:
            raise TimeoutError("the Provider was not read")
        time.sleep(0.1)


def one(env: Env, receiver: Receiver, name: str, timeout: float) -> float:
    env.create_namespace(name)
    env.kube.apply(env.application(name, "app", name, "5m"))
    started = time.monotonic()
    while not ready(env.get(env.app_kind, name), env.sha):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{name} not Ready within {timeout:.0f}s")
        time.sleep(0.005)
    turned_ready = time.monotonic()
    while name not in receiver.arrived:
        if time.monotonic() - turned_ready > timeout:
            raise TimeoutError(f"no notification for {name} within {timeout:.0f}s")
        time.sleep(0.005)
    return receiver.arrived[name] - turned_ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    files = {
        "app/cm.yaml": yaml.safe_dump(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}
        )
    }
    receiver = Receiver()
    latencies: list[float] = []
    try:
        with environment(OURS, "notify", files, Options()) as env:
            env.kube.apply(env.repository())
            notifications(env, receiver.url)
            for run in range(args.runs):
                latency = one(env, receiver, f"app-{run}", args.timeout)
                latencies.append(latency)
                print(f"  run {run}: Ready -> notification received {latency * 1000:.0f} ms")
    finally:
        receiver.stop()
    assert receiver.bad_signatures == 0
    lo, hi = min(latencies), max(latencies)
    print("| measure | median (min-max) |\n| --- | --- |")
    print(
        f"| Application Ready -> generic-hmac notification received ({args.runs} runs)"
        f" | {statistics.median(latencies) * 1000:.0f} ms ({lo * 1000:.0f}-{hi * 1000:.0f}) |"
    )


if __name__ == "__main__":
    main()
