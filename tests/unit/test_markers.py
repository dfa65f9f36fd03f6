"""Test selection by marker: ``-m "not integration"`` must leave every cluster test out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _collected(*args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: none collected
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_not_integration_leaves_out_every_integration_and_reliability_test():
    selected = _collected("-m", "not integration", "tests/integration", "tests/reliability")
    assert selected == []


def test_the_integration_marker_selects_the_cluster_tests():
    selected = _collected("-m", "integration", "tests/integration/test_drift.py")
    assert selected
    assert all(line.startswith("tests/integration/") for line in selected)
