"""The operator's finalizer: kopf holds none (it would write it from every replica), and
a deletion waits for the operator's own one only."""

from __future__ import annotations

import kopf

from gitops_operator import controller
from gitops_operator.api import GROUP
from gitops_operator.finalizing import FINALIZER, deleting


def test_kopf_requires_no_finalizer_for_any_daemon_or_handler():
    registry = kopf.get_default_registry()
    daemons = registry._spawning.get_all_handlers()
    assert {h.fn for h in daemons} >= {controller.application_daemon, controller.repository_daemon}
    assert not [h for h in daemons if h.requires_finalizer]
    assert not [h for h in registry._changing.get_all_handlers() if h.requires_finalizer]


def test_only_a_deletion_held_by_the_operators_finalizer_is_finalized():
    assert f"{GROUP}/finalizer" == FINALIZER  # the name earlier versions left on objects
    held = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": [FINALIZER]}}
    assert deleting(held)
    assert not deleting({"metadata": {"finalizers": [FINALIZER]}})
    other = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["x/y"]}}
    assert not deleting(other)
