"""One Application's page and one object's page (pure: views in, HTML out)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..api import status_fields
from ..objects import KubeObject
from .html import app_path, badge, button_form, esc, page, query
from .views import TimelineEntry, TreeObject, condition, short_revision


@dataclass(frozen=True, slots=True)
class AppView:
    """Everything one Application's page shows, read with the person's identity."""

    app: KubeObject
    tree: list[tuple[str, list[TreeObject]]]
    diagram_svg: str
    timeline: list[TimelineEntry]
    events: list[KubeObject] | None
    """None: the person may not list Events here."""
    may_patch: bool


def application_page(view: AppView, *, user: str, csrf: str, notice: str = "") -> str:
    meta = view.app["metadata"]
    ns, name = str(meta["namespace"]), str(meta["name"])
    live = "/events" + app_path(ns, name) + query(rv=str(meta.get("resourceVersion", "")))
    body = (
        _summary(view.app)
        + (_actions(view.app, csrf) if view.may_patch else _read_only())
        + '<section aria-labelledby="loop-h"><h2 id="loop-h">The loop</h2>'
        '<figure class="diagram" id="diagram"><figcaption>Git, its GitRepository, this'
        " Application and the objects it owns, as they are now.</figcaption>"
        f'<div role="img" aria-label="Diagram of the loop of {esc(name)}">'
        f"{view.diagram_svg}</div></figure></section>"
        + _objects(ns, name, view.tree)
        + _timeline(ns, name, view.timeline, csrf if view.may_patch else "")
        + _events(view.events)
    )
    return page(f"Application {ns}/{name}", body, user=user, csrf=csrf, live=live, notice=notice)


def _summary(app: KubeObject) -> str:
    status, spec = app.get("status") or {}, app.get("spec") or {}
    ready = condition(status, "Ready")
    pairs = [
        ("Sync", badge(str(status.get(status_fields.SYNC) or "Unknown"))),
        ("Health", badge(str(status.get(status_fields.HEALTH) or "Unknown"))),
        (
            "Ready",
            f"{badge(str(ready.get('status') or 'Unknown'))} {esc(ready.get('message', ''))}",
        ),
        ("Revision", _code(status.get(status_fields.LAST_APPLIED_REVISION))),
        ("Last good revision", _code(status.get(status_fields.LAST_GOOD_REVISION))),
        ("Failed revision", _code(status.get(status_fields.FAILED_REVISION))),
        ("Source", esc((spec.get("sourceRef") or {}).get("name", ""))),
        ("Path", esc(spec.get("path", "."))),
        ("Suspended", "yes" if spec.get("suspend") else "no"),
    ]
    items = "".join(f"<dt>{k}</dt><dd data-field='{esc(k)}'>{v}</dd>" for k, v in pairs)
    return section("sum", "Status", f'<dl class="summary">{items}</dl>')


def section(key: str, title: str, content: str) -> str:
    return (
        f'<section aria-labelledby="{key}-h"><h2 id="{key}-h">{esc(title)}</h2>{content}</section>'
    )


def _code(value: Any) -> str:
    return f"<code>{esc(value)}</code>" if value else '<span class="muted">none</span>'


def _actions(app: KubeObject, csrf: str) -> str:
    meta, spec = app["metadata"], app.get("spec") or {}
    base = app_path(str(meta["namespace"]), str(meta["name"]), "/actions/")
    buttons = [button_form(base + "sync", "Sync now", csrf)]
    if (app.get("status") or {}).get(status_fields.FAILED_REVISION):
        buttons.append(button_form(base + "retry", "Retry failed revision", csrf))
    if spec.get("suspend"):
        buttons.append(button_form(base + "resume", "Resume", csrf))
    else:
        buttons.append(button_form(base + "suspend", "Suspend", csrf))
    return (
        '<section aria-labelledby="act-h"><h2 id="act-h">Actions</h2>'
        f'<div class="actions">{"".join(buttons)}</div></section>'
    )


def _read_only() -> str:
    return '<p class="muted">You may read this Application but not change it.</p>'


def _objects(ns: str, name: str, tree: Sequence[tuple[str, list[TreeObject]]]) -> str:
    if not tree:
        return section("obj", "Objects", '<p class="empty">None yet.</p>')
    groups = []
    for kind, objects in tree:
        items = "".join(_object_item(ns, name, o) for o in objects)
        groups.append(
            f'<li class="kind"><details open><summary>{esc(kind)} ({len(objects)})</summary>'
            f"<ul>{items}</ul></details></li>"
        )
    return (
        '<section aria-labelledby="obj-h"><h2 id="obj-h">Objects</h2>'
        f'<ul class="tree" id="objects">{"".join(groups)}</ul></section>'
    )


def _object_item(ns: str, name: str, o: TreeObject) -> str:
    ref = o.ref
    link = app_path(ns, name, "/object") + query(
        apiVersion=o.api_version, kind=ref.kind, namespace=ref.namespace, name=ref.name
    )
    where = f"{ref.namespace}/" if ref.namespace else ""
    drift = ""
    if o.missing:
        drift = ' <span class="badge bad">missing</span>'
    elif o.drift:
        drift = f' <span class="badge warn">drifted</span>{drift_table(o.drift)}'
    return (
        f'<li class="object h-{esc(o.health.lower())}">{badge(o.health, "Health")} '
        f'<a href="{esc(link)}">{esc(where)}{esc(ref.name)}</a>{drift}</li>'
    )


def drift_table(fields: Sequence[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><th scope='row'><code>{esc(f.get('path', ''))}</code></th>"
        f"<td><code>{esc(f.get('desired', ''))}</code></td>"
        f"<td><code>{esc(f.get('live', ''))}</code></td></tr>"
        for f in fields
    )
    return (
        '<table class="drift"><caption>Desired and live values that differ</caption>'
        '<thead><tr><th scope="col">Field</th><th scope="col">Desired (Git)</th>'
        f'<th scope="col">Live</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _timeline(ns: str, name: str, entries: Sequence[TimelineEntry], csrf: str) -> str:
    if not entries:
        return section("hist", "History", '<p class="empty">Nothing applied yet.</p>')
    items = []
    action = app_path(ns, name, "/actions/rollback")
    for e in entries:
        facts = [f"started {esc(e.started)}"]
        if e.took:
            facts.append(f"took {esc(e.took)}")
        if e.changes:
            facts.append(esc(e.changes))
        commit = ""
        if e.author or e.commit_message:
            subject = e.commit_message.splitlines()[0] if e.commit_message else ""
            author = f'<span class="muted">by {esc(e.author)}</span>'
            commit = f'<p class="commit">{esc(subject)} {author}</p>'
        back = ""
        if e.rolled_back_to:
            back = f"<p>Rolled back to <code>{esc(short_revision(e.rolled_back_to))}</code></p>"
        rollback = ""
        if csrf and e.result == "Succeeded":
            rollback = button_form(
                action, f"Roll back to {e.sha[:8]}", csrf, (("revision", e.revision),)
            )
        items.append(
            f'<li class="entry r-{esc(e.result.lower())}">{badge(e.result, "Result")} '
            f'<code class="sha">{esc(short_revision(e.revision))}</code>'
            f'<p class="facts">{" · ".join(facts)}</p>{commit}'
            f'<p class="message">{esc(e.message)}</p>{back}{rollback}</li>'
        )
    return (
        '<section aria-labelledby="hist-h"><h2 id="hist-h">History</h2>'
        + _compare_form(ns, name, entries)
        + f'<ol class="timeline" id="timeline">{"".join(items)}</ol></section>'
    )


def _compare_form(ns: str, name: str, entries: Sequence[TimelineEntry]) -> str:
    """Two revisions of the history to compare (a GET form: no script needed)."""
    revisions = list(dict.fromkeys(e.revision for e in entries if e.revision))
    if len(revisions) < 2:
        return ""

    def select(key: str, label: str, chosen: str) -> str:
        options = "".join(
            f'<option value="{esc(r)}"{" selected" if r == chosen else ""}>'
            f"{esc(short_revision(r))}</option>"
            for r in revisions
        )
        field = f'<select id="cmp-{key}" name="{key}">{options}</select>'
        return f'<label for="cmp-{key}">{label}</label>{field}'

    return (
        f'<form method="get" action="{esc(app_path(ns, name, "/diff"))}" class="filters"'
        ' aria-label="Compare two revisions">'
        + select("base", "From", revisions[1])
        + select("head", "To", revisions[0])
        + '<button type="submit">Compare</button></form>'
    )


def diff_page(ns: str, name: str, report: dict[str, Any], *, user: str, csrf: str) -> str:
    """``diff_report.as_data`` of two revisions: each object added, removed or changed,
    each changed field with its value in both."""
    back = (
        f'<p><a href="{esc(app_path(ns, name))}">Back to Application {esc(ns)}/{esc(name)}</a></p>'
    )
    summary = ", ".join(f"{n} {change}" for change, n in report["summary"].items() if n)
    body = back + (
        f"<p>From <code>{esc(report['base']['revision'])}</code> to"
        f" <code>{esc(report['head']['revision'])}</code>: {esc(summary or 'no differences')}</p>"
    )
    body += "".join(f'<p class="muted">{esc(note)}</p>' for note in report["notes"])
    items = []
    for o in report["objects"]:
        scope = f"{o['namespace']}/" if o["namespace"] else ""
        rows = "".join(
            f"<tr><th scope='row'><code>{esc(f['path'])}</code></th>"
            f"<td><code>{esc(_value(f['base']))}</code></td>"
            f"<td><code>{esc(_value(f['head']))}</code></td></tr>"
            for f in o["fields"]
        )
        table = (
            '<table class="drift"><thead><tr><th scope="col">Field</th>'
            '<th scope="col">From</th><th scope="col">To</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
            if rows
            else ""
        )
        items.append(
            f'<li class="change c-{esc(o["change"])}">{badge(o["change"].capitalize())} '
            f"{esc(o['kind'])} {esc(scope)}{esc(o['name'])}{table}</li>"
        )
    body += f'<ul class="tree" id="changes">{"".join(items)}</ul>'
    return page(f"Changes of {ns}/{name}", body, user=user, csrf=csrf)


def _value(value: Any) -> str:
    if value is None:
        return "(absent)"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _events(events: Sequence[KubeObject] | None) -> str:
    head = '<section aria-labelledby="ev-h"><h2 id="ev-h">Events</h2>'
    if events is None:
        return head + '<p class="muted">You may not list Events in this namespace.</p></section>'
    if not events:
        return head + '<p class="empty">No Events.</p></section>'
    rows = "".join(
        f"<tr><td>{esc(e.get('lastTimestamp') or e.get('eventTime') or '')}</td>"
        f"<td>{esc(e.get('type', ''))}</td><td>{esc(e.get('reason', ''))}</td>"
        f"<td>{esc(e.get('message', ''))}</td></tr>"
        for e in events
    )
    return (
        head + '<table class="events" id="events"><thead><tr><th scope="col">Time</th>'
        '<th scope="col">Type</th><th scope="col">Reason</th><th scope="col">Message</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></section>"
    )


def object_page(
    app_ns: str,
    app_name: str,
    title: str,
    yaml_text: str | None,
    drift: TreeObject | None,
    *,
    user: str,
    csrf: str,
) -> str:
    back = _back_link(app_ns, app_name)
    body = back
    if drift is not None and drift.drift:
        body += "<h2>Drift</h2>" + drift_table(drift.drift)
    body += "<h2>Live object</h2>"
    if yaml_text is None:
        body += '<p class="empty">Not found, or you may not read it.</p>'
    else:
        body += f'<pre class="yaml" tabindex="0"><code>{esc(yaml_text)}</code></pre>'
    return page(title, body, user=user, csrf=csrf)


def _back_link(ns: str, name: str) -> str:
    return (
        f'<p><a href="{esc(app_path(ns, name))}">Back to Application {esc(ns)}/{esc(name)}</a></p>'
    )
