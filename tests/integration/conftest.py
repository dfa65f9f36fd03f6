"""Integration tests share the session fixtures of tests/conftest.py; every test here is
marked ``integration`` by directory there."""
