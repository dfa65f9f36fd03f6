"""The status fields the operator writes: spelled once (api/status_fields.py), each one
declared by its CRD, and each declared one named there, so a field is never written
where the API server would prune it, nor declared and never written."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gitops_operator.api import status_fields

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "gitops_operator"
KUBERNETES_OWN = {"conditions", "observedGeneration"}


def names() -> set[str]:
    return {v for k, v in vars(status_fields).items() if k.isupper() and isinstance(v, str)}


def declared(crd: str) -> set[str]:
    doc = yaml.safe_load((ROOT / "deploy" / "crds" / crd).read_text())
    schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return set(schema["properties"]["status"]["properties"])


def test_every_status_field_is_declared_and_every_declared_one_is_named():
    crds = (
        declared("applications.yaml")
        | declared("gitrepositories.yaml")
        | declared("providers.yaml")
        | declared("alerts.yaml")
    )
    assert names() == crds - KUBERNETES_OWN


def test_no_module_that_reads_or_writes_status_spells_a_field_itself():
    spelled = []
    for path in SRC.rglob("*.py"):
        if path.name == "status_fields.py":
            continue
        text = path.read_text()
        for name in names():
            # an own status field is camelCase and ours; the short generic ones (sync,
            # health, history, ...) are also keys of other objects outside our status
            if re.search(r"[A-Z]", name) and f'"{name}"' in text:
                spelled.append(f"{path.relative_to(SRC)}: {name}")
    assert not spelled
