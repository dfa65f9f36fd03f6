"""Integration tests share the session fixtures of tests/conftest.py; every test here is
marked ``integration`` by directory there. Here: the CLI run in-process, for any test."""

from __future__ import annotations

import pytest

from gitops_operator.cli import main


class Cli:
    """The CLI run in-process against the test cluster and namespace: a call returns
    (exit code, stdout); ``err`` holds the last call's stderr."""

    def __init__(self, kubeconfig: str, namespace: str, capsys: pytest.CaptureFixture[str]):
        self.kubeconfig, self.namespace, self.capsys = kubeconfig, namespace, capsys
        self.err = ""

    def __call__(self, *argv: str) -> tuple[int, str]:
        self.capsys.readouterr()
        code = main([*argv, "--kubeconfig", self.kubeconfig, "-n", self.namespace])
        captured = self.capsys.readouterr()
        assert "Traceback" not in captured.err
        self.err = captured.err
        return code, captured.out


@pytest.fixture
def cli(cluster, namespace, capsys, monkeypatch) -> Cli:
    monkeypatch.setenv("GITOPS_ALLOWED_GIT_HOSTS", "127.0.0.1")  # the test Git server
    monkeypatch.setenv("GITOPS_DEFAULT_SERVICE_ACCOUNT", "")  # as the session operator runs
    return Cli(str(cluster.kubeconfig), namespace, capsys)
