"""The chart value operator.healthCheckExprs reaches the operator as the list it reads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from gitops_operator.api import HealthCheckExpr
from gitops_operator.config import Settings
from gitops_operator.health import operator_health_checks

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "gitops-operator"
HELM = Settings.from_env().helm_binary
ENTRY = {
    "apiVersion": "example.dev/v1",
    "kind": "Widget",
    "current": "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
    "failed": "status.phase == 'Failed'",
}


def template(tmp_path: Path, values: dict) -> subprocess.CompletedProcess[str]:
    if not Path(HELM).is_file():
        pytest.skip(f"pinned helm not found at {HELM!r}")
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    return subprocess.run(
        [HELM, "template", "t", str(CHART), "-f", str(file)], capture_output=True, text=True
    )


def operator_env(rendered: str) -> dict[str, str]:
    deployment = next(
        d for d in yaml.safe_load_all(rendered) if d and d.get("kind") == "Deployment"
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_chart_value_becomes_the_operator_wide_list(tmp_path):
    result = template(tmp_path, {"operator": {"healthCheckExprs": [ENTRY]}})
    assert result.returncode == 0, result.stderr
    text = operator_env(result.stdout)["GITOPS_HEALTH_CHECK_EXPRS"]
    assert operator_health_checks(text) == (
        HealthCheckExpr(
            "example.dev/v1", "Widget", current=ENTRY["current"], failed=ENTRY["failed"]
        ),
    )
    unset = template(tmp_path, {})
    assert "GITOPS_HEALTH_CHECK_EXPRS" not in operator_env(unset.stdout)


def test_chart_refuses_an_entry_the_operator_would_not_read(tmp_path):
    result = template(tmp_path, {"operator": {"healthCheckExprs": [{**ENTRY, "inprogress": "x"}]}})
    assert result.returncode != 0
    assert "inprogress" in result.stderr
