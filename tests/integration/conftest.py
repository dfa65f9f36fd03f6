"""Integration tests share the session fixtures of tests/conftest.py."""

import pytest

pytestmark = pytest.mark.integration
