"""spec.destination parsing and the kubeconfig a tenant may hand the operator."""

from __future__ import annotations

import pytest
import yaml

from gitops_operator.api.destination import LOCAL, Destination, parse_destination
from gitops_operator.errors import InvalidSpecError
from gitops_operator.reconcilers.destinations import checked_kubeconfig


def kubeconfig(cluster: dict | None = None, user: dict | None = None) -> str:
    return yaml.safe_dump(
        {
            "clusters": [{"name": "c", "cluster": cluster or {"server": "https://remote:6443"}}],
            "users": [{"name": "u", "user": user or {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )


def test_no_destination_is_this_cluster() -> None:
    assert parse_destination({}) is LOCAL
    assert not LOCAL.remote


def test_a_kubeconfig_secret_names_a_remote_destination() -> None:
    spec = {"destination": {"kubeConfig": {"secretRef": {"name": "prod", "key": "config"}}}}
    assert parse_destination(spec) == Destination(secret_name="prod", key="config")


@pytest.mark.parametrize(
    "destination",
    [
        "prod",
        {"kubeConfig": {}},
        {"kubeConfig": {"secretRef": {"name": "Not_A_Name"}}},
        {"kubeConfig": {"secretRef": {"name": "ok", "key": "a/b"}}},
    ],
)
def test_a_malformed_destination_is_refused(destination: object) -> None:
    with pytest.raises(InvalidSpecError):
        parse_destination({"destination": destination})


def test_a_kubeconfig_is_reduced_to_its_current_context() -> None:
    checked = checked_kubeconfig(kubeconfig(), "ns", "s")
    assert checked["clusters"][0]["cluster"] == {"server": "https://remote:6443"}
    assert checked["users"][0]["user"] == {"token": "t"}
    assert checked["current-context"] == "destination"


@pytest.mark.parametrize(
    ("cluster", "user", "words"),
    [
        (None, {"exec": {"command": "sh"}}, "exec"),
        (None, {"auth-provider": {"name": "gcp"}}, "auth-provider"),
        (None, {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}, "tokenFile"),
        (None, {"client-certificate": "/etc/pki/a.crt"}, "client-certificate"),
        (
            {"server": "https://r", "certificate-authority": "/etc/ca"},
            None,
            "certificate-authority",
        ),
        ({"server": "https://r", "proxy-url": "http://p"}, None, "proxy-url"),
        ({"server": "file:///etc/passwd"}, None, "no https:// server"),
    ],
)
def test_what_would_run_or_read_the_operators_files_is_refused(
    cluster: dict | None, user: dict | None, words: str
) -> None:
    with pytest.raises(InvalidSpecError, match=words) as refused:
        checked_kubeconfig(kubeconfig(cluster, user), "ns", "s")
    assert refused.value.reason == "InvalidKubeConfig"


def test_a_context_naming_a_missing_cluster_is_refused() -> None:
    text = kubeconfig().replace("cluster: c", "cluster: gone")
    with pytest.raises(InvalidSpecError, match="no cluster named 'gone'"):
        checked_kubeconfig(text, "ns", "s")
