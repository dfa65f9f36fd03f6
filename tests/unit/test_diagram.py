"""The loop diagram: a well-formed standalone SVG that shows what the status says."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from gitops_operator.diagram import HEALTH_FILL, MAX_PER_KIND, DiagramObject, render_svg
from gitops_operator.health import HealthStatus
from gitops_operator.objects import ObjectRef

NS = {"svg": "http://www.w3.org/2000/svg"}
GOOD = "main@sha1:" + "9f8e7d6c5b" * 4
BAD = "main@sha1:" + "a1b2c3d4e5" * 4
NEW = "main@sha1:" + "c0ffee1234" * 4
TOKEN = "ghp_s3cr3tT0ken"


def application(**status: object) -> dict:
    return {
        "metadata": {"name": "shop", "namespace": "apps"},
        "spec": {"sourceRef": {"name": "platform"}, "path": "deploy"},
        "status": {
            "sync": "OutOfSync",
            "health": "Degraded",
            "lastAppliedRevision": GOOD,
            "lastGoodRevision": GOOD,
            "failedRevision": BAD,
            "conditions": [{"type": "Ready", "status": "False", "reason": "HealthCheckFailed"}],
            "history": [
                {
                    "revision": BAD,
                    "result": "RolledBack",
                    "rolledBackTo": GOOD,
                    "finishedAt": "2024-05-03T10:05:00Z",
                    "message": "Deployment/shop/web is Degraded",
                },
                {"revision": GOOD, "result": "Succeeded", "finishedAt": "2024-05-02T09:00:00Z"},
                {"revision": GOOD, "result": "Failed", "finishedAt": "2024-05-01T08:00:00Z"},
            ],
            **status,
        },
    }


REPOSITORY = {
    "metadata": {"name": "platform", "namespace": "apps"},
    "spec": {"url": f"https://bot:{TOKEN}@git.example.com/platform.git", "ref": {"branch": "main"}},
    "status": {
        "artifact": {"revision": NEW, "sha": NEW[-40:], "fetchedAt": "2024-05-03T10:06:00Z"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded"}],
    },
}


def obj(kind: str, name: str, health: str = "Healthy", drifted: bool = False) -> DiagramObject:
    group = "apps" if kind == "Deployment" else ""
    return DiagramObject(ObjectRef(group, kind, "shop", name), health, drifted)


OBJECTS = [
    obj("Deployment", "web", "Degraded"),
    obj("Deployment", "api", "Progressing"),
    obj("ConfigMap", "settings", drifted=True),
    obj("Service", "web", "Missing"),
]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, not untrusted input


def draw(app: dict | None = None, repo: dict | None = REPOSITORY, objects=None) -> ET.Element:
    return parse(render_svg(app or application(), repo, OBJECTS if objects is None else objects))


def all_text(root: ET.Element) -> str:
    return " ".join("".join(el.itertext()) for el in root.iter(f"{{{NS['svg']}}}text"))


def object_box(root: ET.Element, ref: str) -> ET.Element:
    [box] = [el for el in root.iter() if el.get("data-object") == ref]
    return box


def test_the_svg_is_well_formed_and_sized():
    root = draw()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("width") == "1200"
    height = float(root.get("height"))
    assert height > 400
    assert root.get("viewBox") == f"0 0 1200 {root.get('height')}"


def test_the_repository_url_is_shown_without_its_credentials():
    svg = render_svg(application(), REPOSITORY, OBJECTS)
    assert TOKEN not in svg and "bot:" not in svg
    git = parse(svg).find("svg:g[@id='git']", NS)
    assert git.find("svg:title", NS).text == "https://***@git.example.com/platform.git"
    assert "https://***@git.example.com/" in all_text(git)


def test_every_object_is_named():
    text = all_text(draw())
    for name in ("web", "api", "settings"):
        assert name in text


def test_objects_are_coloured_by_their_health():
    root = draw()
    assert object_box(root, "Deployment/shop/web").get("fill") == HEALTH_FILL[HealthStatus.DEGRADED]
    assert (
        object_box(root, "Deployment/shop/api").get("fill") == HEALTH_FILL[HealthStatus.PROGRESSING]
    )
    assert object_box(root, "Service/shop/web").get("fill") == HEALTH_FILL[HealthStatus.MISSING]
    assert (
        object_box(root, "ConfigMap/shop/settings").get("fill") == HEALTH_FILL[HealthStatus.HEALTHY]
    )
    assert HEALTH_FILL[HealthStatus.DEGRADED] == "#e57373"  # red, as the legend says


@pytest.mark.parametrize("value", [s.value for s in HealthStatus])
def test_the_legend_names_every_health_with_its_colour(value):
    legend = draw().find(".//svg:g[@id='legend']", NS)
    labels = [t.text for t in legend.iter(f"{{{NS['svg']}}}text")]
    fills = [r.get("fill") for r in legend.iter(f"{{{NS['svg']}}}rect")]
    assert value in labels and HEALTH_FILL[HealthStatus(value)] in fills


def test_an_unknown_health_value_is_drawn_as_unknown():
    root = draw(objects=[obj("Widget", "w", "Sideways")])
    assert object_box(root, "Widget/shop/w").get("fill") == HEALTH_FILL[HealthStatus.UNKNOWN]


def test_drifted_objects_carry_the_drift_marker():
    root = draw()
    drifted = object_box(root, "ConfigMap/shop/settings")
    assert drifted.get("data-drifted") == "true" and drifted.get("stroke-dasharray")
    clean = object_box(root, "Deployment/shop/web")
    assert clean.get("data-drifted") is None and clean.get("stroke-dasharray") is None
    badges = root.findall(".//svg:g[@class='drift-badge']", NS)
    assert len(badges) == 1 and "drift" in "".join(badges[0].itertext())


def test_the_last_rollback_is_marked():
    rollback = draw().find(".//svg:g[@id='rollback']", NS)
    assert rollback is not None
    text = "".join(rollback.itertext())
    assert "main@a1b2c3d failed" in text and "rolled back to main@9f8e7d6" in text


def test_no_rollback_no_rollback_mark():
    app = application(history=[{"revision": GOOD, "result": "Succeeded"}], failedRevision=None)
    assert draw(app).find(".//svg:g[@id='rollback']", NS) is None


def test_one_history_marker_per_entry_coloured_by_result():
    app = application()
    markers = draw(app).findall(".//svg:circle[@class='history-marker']", NS)
    history = app["status"]["history"]
    assert len(markers) == len(history)
    # drawn oldest first; status.history is newest first
    assert [m.get("data-result") for m in markers] == [h["result"] for h in reversed(history)]
    assert len({m.get("fill") for m in markers}) == 3


def test_a_long_history_keeps_one_marker_per_entry():
    history = [{"revision": f"main@sha1:{i:040d}", "result": "Succeeded"} for i in range(50)]
    markers = draw(application(history=history)).findall(
        ".//svg:circle[@class='history-marker']", NS
    )
    assert len(markers) == 50


def test_text_is_escaped():
    app = application()
    app["metadata"]["name"] = "a<b>&c"
    app["status"]["conditions"][0]["message"] = 'x < y && "z" > w\x00'
    svg = render_svg(app, REPOSITORY, [obj("ConfigMap", "<&>")])
    assert "a&lt;b&gt;&amp;c" in svg and "&lt;&amp;&gt;" in svg
    assert "a<b>&c" in all_text(parse(svg))


def test_large_kinds_are_capped_with_a_count_of_the_rest():
    many = [obj("Secret", f"s-{i}") for i in range(MAX_PER_KIND + 5)]
    root = draw(objects=many)
    boxes = [el for el in root.iter() if el.get("class") == "object-box"]
    assert len(boxes) == MAX_PER_KIND
    assert "+5 more" in all_text(root)
    names = [b.get("data-object") for b in boxes]
    assert names[:3] == ["Secret/shop/s-0", "Secret/shop/s-1", "Secret/shop/s-2"]  # natural order


def test_a_new_application_without_source_or_status_still_draws():
    root = draw({"metadata": {"name": "fresh", "namespace": "default"}}, None, [])
    text = all_text(root)
    assert "GitRepository not found" in text and "No history yet." in text
    assert "No objects in the inventory yet." in text


def test_long_names_are_cut_to_fit_with_the_full_name_as_tooltip():
    long = "batch-importer-with-a-very-long-name-indeed"
    root = draw(objects=[obj("Deployment", long)])
    [label] = [t for t in root.iter(f"{{{NS['svg']}}}text") if (t.text or "").startswith("batch")]
    assert label.text.endswith("…") and label.find("svg:title", NS).text == long


def shown(el: ET.Element) -> list[str]:
    """The text lines a viewer sees (tooltips left out)."""
    return [t.text or "" for t in el.iter(f"{{{NS['svg']}}}text")]


@pytest.mark.parametrize(
    "kind",
    [
        "HorizontalPodAutoscaler",
        "CustomResourceDefinition",
        "ValidatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Supercalifragilisticexpialidociousresource",
    ],
)
def test_long_kind_names_are_shown_whole_never_cut(kind: str) -> None:
    root = draw(objects=[obj(kind, "a"), obj(kind, "b"), obj("ConfigMap", "c")])
    [card] = [g for g in root.iter() if g.get("data-kind") == kind]
    names = [t for t in card.iter() if t.get("class") == "kind-name"]
    heading = [t.text or "" for t in names]
    assert "".join(heading) == kind
    assert not any(line.endswith("…") for line in heading)
    assert all(len(line) <= 21 for line in heading), "each line fits the card"
    pills = [float(r.attrib["y"]) for r in card.iter() if r.get("class") == "object-box"]
    assert min(pills) > max(float(t.attrib["y"]) for t in names), "objects start below the kind"


def test_a_short_kind_name_stays_on_one_line() -> None:
    root = draw()
    [card] = [g for g in root.iter() if g.get("data-kind") == "Deployment"]
    assert [t.text for t in card.iter() if t.get("class") == "kind-name"] == ["Deployment"]


def test_the_last_good_revision_is_never_also_shown_as_quarantined() -> None:
    # The good commit, applied again (a changed spec, generation 4) failed: rollback had
    # nothing older to go to, so status names it both last good and failed.
    root = draw(application(failedRevision=GOOD, failedGeneration=4))
    app = root.find("svg:g[@id='application']", NS)
    assert app is not None
    lines = shown(app)
    assert "main@9f8e7d6" in lines, "the last good revision is shown"
    assert not any("9f8e7d6" in line and "quarantined" in line for line in lines)
    assert "re-apply at generation 4 failed" in lines


def test_a_failed_revision_other_than_the_last_good_is_quarantined() -> None:
    app = draw().find("svg:g[@id='application']", NS)
    assert app is not None
    lines = shown(app)
    assert "main@a1b2c3d (quarantined)" in lines and "main@9f8e7d6" in lines


def test_the_verified_signer_is_on_the_repository_box():
    verification = {
        "mode": "TagAndHEAD",
        "tag": {"format": "openpgp", "signer": "Alice <a@example.com>", "fingerprint": "5B" * 20},
        "commit": {"format": "ssh", "signer": "bob", "fingerprint": "SHA256:" + "x" * 43},
    }
    repo = {**REPOSITORY, "status": {**REPOSITORY["status"]}}
    repo["status"]["artifact"] = {**REPOSITORY["status"]["artifact"], "verification": verification}
    box = "".join(
        parse(render_svg(application(), repo, OBJECTS))
        .find("svg:g[@id='gitrepository']", NS)
        .itertext()
    )
    assert "Alice <a@example.com> · " + "5B" * 8 in box
    verification.pop("tag")
    box = all_text(draw(repo=repo))
    assert "bob · SHA256:xxxxxxxxxxxx" in box
    assert "signed" not in all_text(draw())


def test_the_application_box_says_what_it_waits_for_and_its_wave():
    app = application(
        conditions=[{"type": "Ready", "status": "False", "reason": "DependencyNotReady"}],
        syncWave={"revision": NEW, "wave": 2, "appliedAt": "2024-05-03T10:07:00Z", "remaining": 1},
    )
    app["spec"]["dependsOn"] = [
        {"name": "db"},
        {"name": "cache", "namespace": "infra"},
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "flag"},
    ]
    box = draw(app).find("svg:g[@id='application']", NS)
    text = all_text(box)
    assert "after apps/db, infra/cache, ConfigMap apps/flag (waiting)" in text
    assert "wave 2 applied, 1 to go" in text
    assert "order" not in all_text(draw().find("svg:g[@id='application']", NS))


def test_the_application_box_shows_the_hooks_of_the_revision_and_where_they_are():
    app = application(
        hooks={
            "revision": NEW,
            "items": [
                {"hook": "PostSync", "kind": "Job", "name": "smoke", "phase": "Failed"},
                {"hook": "SyncFail", "kind": "Job", "name": "notify", "phase": "Running"},
            ],
        }
    )
    text = all_text(draw(app).find("svg:g[@id='application']", NS))
    assert "hooks" in text
    assert "PostSync smoke Failed · SyncFail notify Running" in text
    assert "hooks" not in all_text(draw().find("svg:g[@id='application']", NS))
