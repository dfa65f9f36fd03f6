"""Fixtures of the render tests that run the pinned binaries."""

import tempfile
from pathlib import Path

import pytest

from gitops_operator.config import Settings


@pytest.fixture(scope="module")
def helm() -> str:
    """The pinned helm; the test is skipped where it is not built."""
    binary = Settings().helm_binary
    if not Path(binary).is_file():
        pytest.skip(f"pinned helm not found at {binary!r} (run hack/build-binaries.sh)")
    return binary


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Renders' temporary directories go here; each test ends with it empty."""
    path = tmp_path / "tmpdir"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    yield path
    assert list(path.iterdir()) == [], "every render removes its work directory"
