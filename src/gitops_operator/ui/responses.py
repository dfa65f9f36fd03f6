"""Small pieces of the server's answers: HTML, redirects, security headers, the checks of
a form's origin and of what the client accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from aiohttp import web

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make forms say Origin: null
}


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def html(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


def secured(response: web.StreamResponse) -> web.StreamResponse:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def same_origin(request: web.Request) -> bool:
    """A browser names the page a form came from; one of another site is refused (the
    sign-in form included), whatever its cookies."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def now() -> datetime:
    return datetime.now(UTC)
