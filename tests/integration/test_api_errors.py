"""What the API server says about a refused Secret never carries the Secret's values."""

from __future__ import annotations

import json

import pytest
import yaml

from .apps import application, repository
from .support import condition, events_for, events_with, get_status, wait_for


def refused(kube, namespace):
    cond = condition(get_status(kube, "Application", namespace, "app"))
    return (
        cond if cond.get("status") == "False" and cond.get("reason") != "SourceNotReady" else None
    )


def secret(**fields: object) -> str:
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, **fields}
    )


@pytest.mark.parametrize(
    ("fields", "value"),
    [
        ({"stringData": {"password": 73105296841}}, "73105296841"),
        ({"stringData": {"password": {"nested": "hunter2-nested"}}}, "hunter2-nested"),
        ({"data": {"token": 99887766554433}}, "99887766554433"),
        ({"data": {"token": "c2VjcmV0LXZhbHVl!"}}, "c2VjcmV0LXZhbHVl"),
    ],
)
def test_secret_values_are_masked_in_api_errors(kube, operator, repo, namespace, fields, value):
    repo.commit({"app/s.yaml": secret(**fields)})
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    cond = wait_for(lambda: refused(kube, namespace), timeout=60, what="refused")
    assert "Secret" in cond["message"]
    status = get_status(kube, "Application", namespace, "app")
    events_with(kube, namespace, "app", cond["reason"])  # the refusal is reported
    events = [e["message"] for e in events_for(kube, namespace, "app")]
    for text in (json.dumps(status), *events):
        assert value not in text
