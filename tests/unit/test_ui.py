"""The web UI's pure parts: rows and filters, the timeline, the object tree, the pages'
HTML (escaped, labelled, usable without script), actions' patches, sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from gitops_operator.api import (
    REQUESTED_AT_ANNOTATION,
    RETRY_ANNOTATION,
    ROLLBACK_AT_ANNOTATION,
    ROLLBACK_TO_ANNOTATION,
)
from gitops_operator.errors import GitOpsError
from gitops_operator.kube_identity import Identity, identity_of
from gitops_operator.objects import ObjectRef
from gitops_operator.ui.actions import Action, Request, describe, patch_for
from gitops_operator.ui.app_page import AppView, application_page
from gitops_operator.ui.html import login_page
from gitops_operator.ui.lists import applications_page
from gitops_operator.ui.sessions import SessionStore
from gitops_operator.ui.views import Filters, age, app_rows, object_tree, short_revision, timeline

NOW = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)
GOOD = "main@sha1:" + "a" * 40
BAD = "main@sha1:" + "b" * 40


def app(ns: str, name: str, health: str = "Healthy", sync: str = "Synced", **status):
    return {
        "apiVersion": "gitops-operator.dev/v1alpha1",
        "kind": "Application",
        "metadata": {
            "namespace": ns,
            "name": name,
            "creationTimestamp": "2026-01-01T12:00:00Z",
            "resourceVersion": "7",
        },
        "spec": {"sourceRef": {"name": "app"}, "path": "app"},
        "status": {"health": health, "sync": sync, "lastAppliedRevision": GOOD, **status},
    }


def test_rows_are_sorted_and_filtered_by_namespace_health_and_sync():
    apps = [app("b", "x"), app("a", "y", "Degraded"), app("a", "x", sync="OutOfSync")]
    assert [(r.namespace, r.name) for r in app_rows(apps, Filters())] == [
        ("a", "x"),
        ("a", "y"),
        ("b", "x"),
    ]
    assert [r.name for r in app_rows(apps, Filters(health="Degraded"))] == ["y"]
    assert [r.name for r in app_rows(apps, Filters(namespace="a", sync="OutOfSync"))] == ["x"]
    assert Filters.from_query({"health": " Healthy "}) == Filters(health="Healthy")


def test_age_and_short_revision_read_as_people_say_them():
    assert age("2026-01-01T12:00:00Z", NOW) == "1d"
    assert age("2026-01-02T11:59:20Z", NOW) == "40s"
    assert age("not a time", NOW) == ""
    assert short_revision(GOOD) == "main@aaaaaaaa"
    assert short_revision("sha1:" + "c" * 40) == "cccccccc"


def test_timeline_keeps_result_changes_duration_and_the_rollback_target():
    history = [
        {
            "revision": BAD,
            "result": "RolledBack",
            "startedAt": "2026-01-02T10:00:00Z",
            "finishedAt": "2026-01-02T10:01:05Z",
            "changes": {"configured": 1, "created": 2},
            "message": "did not become healthy",
            "rolledBackTo": GOOD,
        },
        {"revision": GOOD, "result": "Succeeded", "startedAt": "x", "finishedAt": "y"},
    ]
    artifact = {"sha": "b" * 40, "author": "Dev <dev@example.com>", "message": "bump"}
    newest, older = timeline(history, artifact)
    assert (newest.result, newest.took, newest.changes) == (
        "RolledBack",
        "1m05s",
        "1 configured, 2 created",
    )
    assert (newest.rolled_back_to, newest.author, newest.commit_message) == (
        GOOD,
        "Dev <dev@example.com>",
        "bump",
    )
    assert (older.took, older.author) == ("", ""), "only the fetched commit's author is known"


def test_object_tree_groups_by_kind_with_drift():
    web = ObjectRef("apps", "Deployment", "ns", "web")
    cm = ObjectRef("", "ConfigMap", "ns", "cfg")
    drift = [{"object": str(cm), "fields": [{"path": "data.x", "desired": '"1"', "live": '"2"'}]}]
    tree = object_tree([(web, "apps/v1", "Healthy"), (cm, "v1", "Healthy")], drift)
    assert [kind for kind, _ in tree] == ["ConfigMap", "Deployment"]
    assert tree[0][1][0].drift[0]["path"] == "data.x"
    assert tree[1][1][0].drift == ()


class Elements(HTMLParser):
    """Tags and attributes of a page, to check its markup without a browser."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Elements:
    found = Elements()
    found.feed(html)
    return found


def test_every_form_field_has_a_label_and_values_are_escaped():
    evil = app("ns", "<script>alert(1)</script>")
    page = applications_page(
        app_rows([evil], Filters()), Filters(), ["ns"], NOW, user="u", csrf="t", total=1
    )
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    for html in (page, login_page()):
        found = parse(html)
        labelled = {a.get("for") for t, a in found.tags if t == "label"}
        fields = [
            a for t, a in found.tags if t in ("select", "input") and a.get("type") != "hidden"
        ]
        assert fields and all(f.get("id") in labelled for f in fields)
        assert sum(1 for t, _ in found.tags if t == "h1") == 1
        assert ("a", {"class": "skip", "href": "#main"}) in found.tags


def test_application_page_offers_actions_only_to_who_may_patch():
    history = [{"revision": GOOD, "result": "Succeeded", "startedAt": "a", "finishedAt": "b"}]
    view = AppView(
        app("ns", "shop", history=history), [], "<svg/>", timeline(history, {}), [], True
    )
    page = application_page(view, user="u", csrf="tok")
    forms = [a for t, a in parse(page).tags if t == "form"]
    actions = {a["action"] for a in forms if a.get("method") == "post"}
    assert "/apps/ns/shop/actions/sync" in actions
    assert "/apps/ns/shop/actions/rollback" in actions
    assert 'name="csrf" value="tok"' in page
    read_only = application_page(
        AppView(view.app, [], "<svg/>", view.timeline, None, False), user="u", csrf="tok"
    )
    assert "/actions/" not in read_only
    assert "may not list Events" in read_only


def test_actions_patch_the_annotations_the_operator_answers():
    status_app = app("ns", "shop", history=[{"revision": GOOD, "result": "Succeeded"}])
    sync = patch_for(Request(Action.SYNC, "ns", "shop"), status_app, "t1")
    assert sync == {"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: "t1"}}}
    retry = patch_for(Request(Action.RETRY, "ns", "shop"), status_app, "t2")
    assert retry["metadata"]["annotations"][RETRY_ANNOTATION] == "t2"
    back = patch_for(Request(Action.ROLLBACK, "ns", "shop", "a" * 8), status_app, "t3")
    assert back["metadata"]["annotations"] == {
        ROLLBACK_TO_ANNOTATION: GOOD,
        ROLLBACK_AT_ANNOTATION: "t3",
    }
    with pytest.raises(GitOpsError, match="not a revision"):
        patch_for(Request(Action.ROLLBACK, "ns", "shop", "f" * 8), status_app, "t4")
    assert patch_for(Request(Action.SUSPEND, "ns", "shop"), status_app, "") == {
        "spec": {"suspend": True}
    }
    assert (
        describe(Request(Action.SYNC, "ns", "shop"), "alice")
        == "sync requested by alice from the web UI"
    )


def test_token_review_answer_becomes_the_identity_to_impersonate():
    assert identity_of({"authenticated": False}) is None
    who = identity_of(
        {
            "authenticated": True,
            "user": {
                "username": "alice",
                "uid": "1",
                "groups": ["dev"],
                "extra": {"scopes": ["a"]},
            },
        }
    )
    assert who == Identity("alice", "1", ("dev",), (("scopes", ("a",)),))


def test_sessions_check_csrf_and_expire():
    store = SessionStore(ttl=0.0)
    key, session = store.create(Identity("alice"), "token")
    assert session.csrf_ok(session.csrf) and not session.csrf_ok("guess")
    assert store.get(key) is None, "past its time to live"
    fresh = SessionStore()
    key, session = fresh.create(Identity("bob"), "token")
    assert fresh.get(key) is session
    fresh.drop(key)
    assert fresh.get(key) is None


def test_a_new_live_connection_ends_the_oldest_beyond_the_bound():
    import threading

    from gitops_operator.ui.sessions import MAX_STREAMS

    _, session = SessionStore().create(Identity("alice"), "token")
    stops = [threading.Event() for _ in range(MAX_STREAMS + 1)]
    for stop in stops:
        session.hold_stream(stop)
    assert stops[0].is_set() and not any(s.is_set() for s in stops[1:])
    session.release_stream(stops[1])
    assert len(session.streams) == MAX_STREAMS - 1


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_badge_colours_keep_a_contrast_of_at_least_4_5_to_1():
    import re
    from importlib import resources

    css = (resources.files("gitops_operator.ui") / "static" / "ui.css").read_text()
    pairs = re.findall(
        r"\.badge\.\w+ \{ color: (#[0-9a-f]{6}); background: (#[0-9a-f]{6}); \}", css
    )
    assert len(pairs) == 5
    for ink, paper in pairs:
        light, dark = sorted((_luminance(ink), _luminance(paper)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, (ink, paper)


def test_table_rows_read_the_printer_columns_and_metadata():
    from gitops_operator.ui.views import table_rows

    table = {
        "columnDefinitions": [
            {"name": n}
            for n in (
                "Source",
                "Revision",
                "Sync",
                "Health",
                "Ready",
                "Status",
                "Suspended",
                "Shard",
                "Age",
            )
        ],
        "rows": [
            {
                "cells": [
                    "app",
                    GOOD,
                    "Synced",
                    "Degraded",
                    "False",
                    "pods not ready",
                    True,
                    "gitops-operator-7d9f-2",
                    "2d",
                ],
                "object": {
                    "metadata": {
                        "namespace": "ns",
                        "name": "shop",
                        "creationTimestamp": "2026-01-01T12:00:00Z",
                    }
                },
            },
            {
                "cells": ["app", None, None, None, None, None, None, None, "1d"],
                "object": {"metadata": {"namespace": "ns", "name": "new"}},
            },
        ],
    }
    shop, new = table_rows(table)
    assert (shop.health, shop.message, shop.suspended, shop.shard) == (
        "Degraded",
        "pods not ready",
        True,
        "gitops-operator-7d9f-2",
    )
    assert (new.sync, new.health, new.revision, new.suspended) == ("Unknown", "Unknown", "", False)


def test_the_list_page_shows_one_page_of_rows_with_links_to_the_others():
    from gitops_operator.ui.views import PAGE_SIZE

    apps = [app("ns", f"a{i:04d}") for i in range(PAGE_SIZE * 2 + 5)]
    rows = app_rows(apps, Filters())
    second = Filters(page=2)
    html = applications_page(rows, second, ["ns"], NOW, user="u", csrf="t", total=len(rows))
    assert html.count("<tr data-key=") == PAGE_SIZE
    assert f'data-key="ns/a{PAGE_SIZE:04d}"' in html
    assert 'href="/?page=1">Previous page' in html and 'href="/?page=3">Next page' in html
    assert Filters(page=99).window(len(rows)) == (PAGE_SIZE * 2, len(rows)), (
        "past the end: the last"
    )
    assert Filters.from_query({"page": "x"}).page == 1


def test_a_form_from_another_site_is_refused():
    from aiohttp.test_utils import make_mocked_request

    from gitops_operator.ui.responses import same_origin

    def post(**headers: str) -> bool:
        return same_origin(
            make_mocked_request("POST", "/login", headers={"Host": "ui:8080", **headers})
        )

    assert post() and post(Origin="http://ui:8080")
    assert not post(Origin="https://evil.example") and not post(Origin="null")
