"""The pages that list: every Application, every GitRepository (pure: rows in, HTML out)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .html import app_path, badge, esc, page, query
from .views import PAGE_SIZE, AppRow, Filters, RepositoryRow, age, short_revision

HEALTH_CHOICES = ("Healthy", "Progressing", "Degraded", "Suspended", "Unknown")
SYNC_CHOICES = ("Synced", "OutOfSync", "Unknown")


def applications_page(
    rows: Sequence[AppRow],
    filters: Filters,
    namespaces: Sequence[str],
    now: datetime,
    *,
    user: str,
    csrf: str,
    total: int,
    version: str = "",
) -> str:
    """``version``: the list's resourceVersion, where live updates start from."""
    live = "/events/apps" + query(
        namespace=filters.namespace, health=filters.health, sync=filters.sync, rv=version
    )
    body = _filters_form(filters, namespaces)
    shown = f"{len(rows)} of {total}" if len(rows) != total else str(total)
    noun = "Application" if total == 1 else "Applications"
    start, end = filters.window(len(rows))
    pages = _pages(filters, start, end, len(rows))
    body += f'<p class="count" id="app-count">{esc(shown)} {noun}{pages[0]}</p>'
    if not rows:
        body += '<p class="empty">No Application you may see matches.</p>'
        return page("Applications", body, user=user, csrf=csrf, live=live)
    rows = rows[start:end]
    head = "".join(
        f'<th scope="col">{h}</th>'
        for h in ("Namespace", "Name", "Sync", "Health", "Revision", "Age", "Shard", "Ready")
    )
    lines = "".join(_row(r, now) for r in rows)
    body += (
        '<table class="apps" id="apps"><caption class="visually-hidden">Applications</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>{pages[1]}"
    )
    return page("Applications", body, user=user, csrf=csrf, live=live)


def _pages(filters: Filters, start: int, end: int, total: int) -> tuple[str, str]:
    """The range shown (after the count) and links to the previous and next pages."""
    if total <= PAGE_SIZE:
        return "", ""
    number = start // PAGE_SIZE + 1

    def link(to: int, label: str) -> str:
        target = "/" + query(
            namespace=filters.namespace, health=filters.health, sync=filters.sync, page=str(to)
        )
        return f'<a href="{esc(target)}">{label}</a>'

    links = []
    if number > 1:
        links.append(link(number - 1, "Previous page"))
    if end < total:
        links.append(link(number + 1, "Next page"))
    nav = f'<nav class="pages" aria-label="Pages of Applications">{" ".join(links)}</nav>'
    return f", {start + 1} to {end} shown", nav


def _row(r: AppRow, now: datetime) -> str:
    suspended = ' <span class="tag">suspended</span>' if r.suspended else ""
    return (
        f'<tr data-key="{esc(r.namespace)}/{esc(r.name)}">'
        f"<td>{esc(r.namespace)}</td>"
        f'<th scope="row"><a href="{esc(app_path(r.namespace, r.name))}">{esc(r.name)}</a>'
        f"{suspended}</th>"
        f'<td data-cell="sync">{badge(r.sync)}</td>'
        f'<td data-cell="health">{badge(r.health)}</td>'
        f'<td data-cell="revision"><code>{esc(short_revision(r.revision))}</code></td>'
        f'<td data-cell="age">{esc(age(r.created, now))}</td>'
        f"<td>{esc(r.shard or '-')}</td>"
        f'<td data-cell="message" class="message">{esc(r.message)}</td></tr>'
    )


def _filters_form(filters: Filters, namespaces: Sequence[str]) -> str:
    def select(name: str, label: str, choices: Sequence[str], chosen: str) -> str:
        options = '<option value="">any</option>' + "".join(
            f'<option value="{esc(c)}"{" selected" if c == chosen else ""}>{esc(c)}</option>'
            for c in choices
        )
        return (
            f'<label for="f-{name}">{esc(label)}</label>'
            f'<select id="f-{name}" name="{name}">{options}</select>'
        )

    return (
        '<form method="get" action="/" class="filters" role="search"'
        ' aria-label="Filter Applications">'
        + select("namespace", "Namespace", namespaces, filters.namespace)
        + select("health", "Health", HEALTH_CHOICES, filters.health)
        + select("sync", "Sync", SYNC_CHOICES, filters.sync)
        + '<button type="submit">Filter</button></form>'
    )


def repositories_page(rows: Sequence[RepositoryRow], *, user: str, csrf: str) -> str:
    if not rows:
        body = '<p class="empty">No GitRepository you may see.</p>'
        return page("Git repositories", body, user=user, csrf=csrf)
    head = "".join(
        f'<th scope="col">{h}</th>'
        for h in (
            "Namespace",
            "Name",
            "URL and ref",
            "Revision",
            "Commit",
            "Fetched",
            "Last delivery",
            "Verification",
            "Ready",
        )
    )
    lines = "".join(
        f"<tr><td>{esc(r.namespace)}</td><th scope='row'>{esc(r.name)}</th>"
        f"<td><code>{esc(r.url)}</code><br>{esc(r.ref)}</td>"
        f"<td><code>{esc(short_revision(r.revision))}</code></td>"
        f"<td>{esc(r.message.splitlines()[0] if r.message else '')}"
        f"<br><span class='muted'>{esc(r.author)}</span></td>"
        f"<td>{esc(r.fetched)}</td><td>{esc(r.delivery)}</td><td>{esc(r.verification)}</td>"
        f"<td>{badge(r.ready, 'Ready')}<br><span class='message'>{esc(r.ready_message)}</span>"
        "</td></tr>"
        for r in rows
    )
    body = (
        '<table class="repos"><caption class="visually-hidden">Git repositories</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>"
    )
    return page("Git repositories", body, user=user, csrf=csrf)
