"""The page frame and small HTML pieces every page uses (pure: strings in, HTML out).

Every value from the cluster goes through ``esc``; the frame has a skip link, landmarks
and one ``h1``, so the pages read well with a keyboard or a screen reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from urllib.parse import quote, urlencode

HEALTH_CLASSES = {
    "Healthy": "ok",
    "Synced": "ok",
    "Succeeded": "ok",
    "True": "ok",
    "Progressing": "busy",
    "Suspended": "muted",
    "Unknown": "muted",
    "Degraded": "bad",
    "Failed": "bad",
    "OutOfSync": "warn",
    "RolledBack": "warn",
    "Missing": "bad",
    "False": "bad",
}


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def badge(value: str, label: str = "") -> str:
    """A coloured word: the colour repeats what the word says, never replaces it."""
    css = HEALTH_CLASSES.get(value, "muted")
    aria = f' aria-label="{esc(label)}: {esc(value)}"' if label else ""
    return f'<span class="badge {css}"{aria}>{esc(value or "Unknown")}</span>'


def app_path(namespace: str, name: str, tail: str = "") -> str:
    return f"/apps/{quote(namespace, safe='')}/{quote(name, safe='')}{tail}"


def query(**params: str) -> str:
    kept = {k: v for k, v in params.items() if v}
    return "?" + urlencode(kept) if kept else ""


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(token)}">'


def button_form(action: str, label: str, csrf: str, hidden: Sequence[tuple[str, str]] = ()) -> str:
    fields = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in hidden)
    return (
        f'<form method="post" action="{esc(action)}" class="inline">{csrf_field(csrf)}{fields}'
        f'<button type="submit">{esc(label)}</button></form>'
    )


def page(
    title: str,
    body: str,
    *,
    user: str = "",
    csrf: str = "",
    live: str = "",
    notice: str = "",
) -> str:
    """The whole document. ``live``: the server-sent events URL the script listens to."""
    nav = ""
    if user:
        nav = (
            '<nav aria-label="Main"><ul>'
            '<li><a href="/">Applications</a></li>'
            '<li><a href="/repositories">Git repositories</a></li>'
            "</ul>"
            f'<p class="who">Signed in as <strong>{esc(user)}</strong></p>'
            f'<form method="post" action="/logout" class="inline">{csrf_field(csrf)}'
            '<button type="submit">Sign out</button></form></nav>'
        )
    live_attr = f' data-live="{esc(live)}"' if live else ""
    note = f'<p class="notice" role="status">{esc(notice)}</p>' if notice else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · gitops-operator</title>"
        '<link rel="stylesheet" href="/static/ui.css">'
        '<script src="/static/ui.js" defer></script></head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        f'<header><p class="brand">gitops-operator</p>{nav}</header>'
        f'<main id="main"{live_attr}><h1>{esc(title)}</h1>{note}{body}</main>'
        '<p id="live-status" class="live-status" role="status" aria-live="polite"></p>'
        "</body></html>"
    )


def login_page(error: str = "") -> str:
    problem = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    form = (
        f"{problem}"
        '<form method="post" action="/login" class="login">'
        '<label for="token">Bearer token</label>'
        '<p id="token-help" class="hint">A ServiceAccount token (<code>kubectl create token'
        " NAME</code>) or an OIDC token the API server accepts. It stays on this server;"
        " what you see and may do is what Kubernetes RBAC allows you.</p>"
        '<input type="password" id="token" name="token" required autocomplete="off"'
        ' aria-describedby="token-help">'
        '<button type="submit">Sign in</button></form>'
    )
    return page("Sign in", form)


def error_page(title: str, message: str, *, user: str = "", csrf: str = "") -> str:
    return page(title, f'<p class="error" role="alert">{esc(message)}</p>', user=user, csrf=csrf)
