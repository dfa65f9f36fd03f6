"""Argo CD's per-object annotations: what is honoured, accepted and refused."""

from __future__ import annotations

import pytest

from gitops_operator.errors import SyncAnnotationError
from gitops_operator.objects import Manifest
from gitops_operator.sync_options import check_sync_annotations, objection, prune_disabled

OPTIONS = "argocd.argoproj.io/sync-options"
COMPARE = "argocd.argoproj.io/compare-options"


def meta(**annotations: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Job",
        "metadata": {"name": "j", "annotations": annotations},
    }


@pytest.mark.parametrize(
    "annotations",
    [
        {},
        {OPTIONS: "ServerSideApply=true"},
        {OPTIONS: "Prune=false, PruneLast=true,SkipDryRunOnMissingResource=true"},
        {COMPARE: "IgnoreExtraneous"},
        {COMPARE: "ServerSideDiff=true"},
        {"helm.sh/hook": "crd-install"},
        {"argocd.argoproj.io/hook": "PreSync"},  # hooks are hooks.py's business
    ],
)
def test_accepted_annotations(annotations):
    assert objection(meta(**annotations)) is None


@pytest.mark.parametrize(
    ("annotations", "fragment"),
    [
        ({OPTIONS: "Replace=true"}, "'Replace=true': objects are patched by server-side apply"),
        ({OPTIONS: "Force=true"}, "'Force=true': objects are never deleted and created again"),
        ({OPTIONS: "ServerSideApply=false"}, "every object is applied by server-side apply"),
        ({OPTIONS: "Validate=false"}, "server-side dry-run before the first write"),
        ({OPTIONS: "Delete=false"}, "spec.deletionPolicy: Orphan"),
        ({OPTIONS: "Prune=true,Frobnicate"}, "'Prune=true': unknown sync option"),
        ({COMPARE: "IncludeMutationWebhook=true"}, "unknown compare option"),
    ],
)
def test_refused_annotations_say_why(annotations, fragment):
    why = objection(meta(**annotations))
    assert why is not None and fragment in why


@pytest.mark.parametrize(
    ("annotations", "left"),
    [
        ({}, False),
        ({OPTIONS: "Prune=false"}, True),
        ({OPTIONS: "ServerSideApply=true, Prune=false"}, True),
        ({"gitops-operator.dev/prune": "disabled"}, True),
        ({OPTIONS: "Prune=true"}, False),
    ],
)
def test_prune_disabled(annotations, left):
    assert prune_disabled(meta(**annotations)) is left


def test_refusals_are_one_error_naming_every_object():
    keep = Manifest(meta(**{"helm.sh/hook": "pre-install"}), "hook.yaml")  # for hooks.py
    replace = Manifest(meta(**{OPTIONS: "Replace=true"}), "replace.yaml")
    force = Manifest(meta(**{OPTIONS: "Force=true"}), "force.yaml")
    assert check_sync_annotations([keep]) == [keep]
    with pytest.raises(SyncAnnotationError) as refused:
        check_sync_annotations([keep, replace, force])
    assert refused.value.reason == "UnsupportedSyncOption"
    assert "force.yaml" in str(refused.value) and "replace.yaml" in str(refused.value)
    assert "hook.yaml" not in str(refused.value)
    assert str(refused.value).startswith("nothing applied; ")
