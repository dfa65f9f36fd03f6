"""``gitops-operator ui``: the web server (aiohttp). Routes, the sign-in and the checks
every request passes (who is asking, CSRF for a browser's POST); pages are rendered by
``lists`` and ``app_page`` from what ``reads`` returns."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from importlib import resources
from typing import Any, TypeVar

from aiohttp import web

from ..api import APPLICATION_PLURAL, GROUP
from ..diff_report import as_data
from ..errors import ApiError, GitOpsError, NotFoundError
from ..kube_identity import may
from ..kube_ui import UiKubeClient
from ..objects import KubeObject, ObjectRef, group_of
from . import actions
from .app_page import application_page, diff_page, object_page
from .auth import COOKIE, Authenticator, Caller
from .html import app_path, error_page, login_page
from .lists import applications_page, repositories_page
from .live import Message, Watch
from .reads import Reader
from .responses import html, now, same_origin, secured, see_other, wants_json
from .revisions import Renderer, revision_diff
from .sessions import SessionStore
from .views import Filters, TreeObject, app_row, repository_row

T = TypeVar("T")
CALLER = web.RequestKey("caller", Caller)
STATIC = ("ui.css", "ui.js")
PUBLIC = ("/login", "/healthz", "/static/")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class UiServer:
    """The UI's own client (TokenReview, Events, namespace names) and what it keeps."""

    def __init__(
        self,
        own: UiKubeClient,
        renderer: Renderer,
        *,
        insecure_local: bool,
        health_check_exprs: str = "",
    ) -> None:
        self.own = own
        self.sessions = SessionStore()
        self.auth = Authenticator(own, self.sessions, insecure_local=insecure_local)
        self.secure_cookie = not insecure_local
        self.requests = ThreadPoolExecutor(16, thread_name_prefix="ui-request")
        self.reads = ThreadPoolExecutor(32, thread_name_prefix="ui-read")
        self.health_check_exprs = health_check_exprs
        self.renderer = renderer
        self.assets = {
            name: (resources.files(__package__) / "static" / name).read_bytes() for name in STATIC
        }

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.add_routes(
            [
                web.get("/healthz", self.healthz),
                web.get("/static/{file}", self.static),
                web.get("/login", self.login_form),
                web.post("/login", self.login),
                web.post("/logout", self.logout),
                web.get("/", self.applications),
                web.get("/repositories", self.repositories),
                web.get("/apps/{ns}/{name}", self.application),
                web.get("/apps/{ns}/{name}/object", self.object),
                web.get("/apps/{ns}/{name}/diff", self.diff),
                web.post("/apps/{ns}/{name}/actions/{action}", self.act),
                web.get("/events/apps", self.live_list),
                web.get("/events/apps/{ns}/{name}", self.live_application),
            ]
        )
        return app

    # -- the checks ---------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and not same_origin(request):
            return secured(web.Response(status=403, text="a form from another site\n"))
        if not request.path.startswith(PUBLIC):
            caller = await self.auth.caller(request)
            if caller is None:
                if request.headers.get("Authorization") or request.path.startswith("/events"):
                    return secured(
                        web.Response(status=401, text="a valid bearer token is needed\n")
                    )
                raise web.HTTPSeeOther("/login")
            if request.method == "POST" and caller.session is not None:
                form = await request.post()
                if not caller.session.csrf_ok(str(form.get("csrf", ""))):
                    return secured(web.Response(status=403, text="missing or stale form token\n"))
            request[CALLER] = caller
        try:
            response = await handler(request)
        except ApiError as exc:
            response = self._problem(
                request, exc.code if exc.code in (401, 403) else 502, exc.message
            )
        except NotFoundError as exc:
            response = self._problem(request, 404, exc.message)
        except GitOpsError as exc:
            response = self._problem(request, 400, exc.message)
        caller = request.get(CALLER)
        if (
            caller is not None
            and caller.session_key
            and request.cookies.get(COOKIE) != caller.session_key
        ):
            self._set_cookie(response, caller.session_key)
        return secured(response)

    def _problem(self, request: web.Request, status: int, message: str) -> web.Response:
        caller = request.get(CALLER)
        if caller is None or caller.session is None:
            return web.json_response({"error": message}, status=status)
        titles = {401: "Not signed in", 403: "Not allowed", 404: "Not found"}
        body = error_page(
            titles.get(status, "Error"),
            message,
            user=caller.identity.username,
            csrf=caller.session.csrf,
        )
        return web.Response(status=status, text=body, content_type="text/html")

    def _set_cookie(self, response: web.StreamResponse, key: str) -> None:
        response.set_cookie(
            COOKIE, key, httponly=True, samesite="Strict", secure=self.secure_cookie, path="/"
        )

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.requests, partial(fn, *args))

    def _reader(self, caller: Caller) -> Reader:
        return Reader(caller.kube, self.reads, self.health_check_exprs)

    def _namespaces(self, caller: Caller) -> list[str]:
        """Where to look when the person may not list cluster-wide: the namespaces they
        may list, else every namespace's name (read by the UI's own account)."""
        for kube in (caller.kube, self.own):
            try:
                return sorted(n["metadata"]["name"] for n in kube.list("v1", "Namespace"))
            except ApiError:
                continue
        return []

    # -- sign-in ------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["file"]
        if name not in self.assets:
            raise web.HTTPNotFound()
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        return web.Response(
            body=self.assets[name], content_type=kind, headers={"Cache-Control": "max-age=300"}
        )

    async def login_form(self, request: web.Request) -> web.Response:
        return html(login_page())

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = str(form.get("token", "")).strip()
        identity = await self.auth.review(token)
        if identity is None:
            body = login_page("The API server did not accept this token.")
            return web.Response(status=401, text=body, content_type="text/html")
        key, _ = self.sessions.create(identity, token)
        response = see_other("/")
        self._set_cookie(response, key)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        caller = request[CALLER]
        if caller.session_key:
            self.sessions.drop(caller.session_key)
        response = see_other("/login")
        response.del_cookie(COOKIE, path="/")
        return response

    # -- pages --------------------------------------------------------------------------

    async def applications(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        filters = Filters.from_query(request.query)
        reader = self._reader(caller)
        started = time.perf_counter()
        everything, version = await self._run(
            reader.application_rows, filters.namespace, partial(self._namespaces, caller)
        )
        read = time.perf_counter()
        if wants_json(request):
            at = now()
            return web.json_response([r.as_data(at) for r in everything if filters.keeps(r)])
        rows = sorted(
            (r for r in everything if filters.keeps(r)), key=lambda r: (r.namespace, r.name)
        )
        namespaces = sorted({r.namespace for r in everything})
        csrf = caller.session.csrf if caller.session else ""
        body = applications_page(
            rows,
            filters,
            namespaces,
            now(),
            user=caller.identity.username,
            csrf=csrf,
            total=len(everything),
            version=version,
        )
        response = html(body)
        rendered = time.perf_counter()
        # What the time went to (the API server's list as the person, then the HTML), for
        # the browser's developer tools and the benchmark.
        response.headers["Server-Timing"] = (
            f"api;dur={(read - started) * 1000:.1f}, html;dur={(rendered - read) * 1000:.1f}"
        )
        return response

    async def repositories(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        repos = await self._run(
            self._reader(caller).repositories, partial(self._namespaces, caller)
        )
        rows = sorted(map(repository_row, repos), key=lambda r: (r.namespace, r.name))
        csrf = caller.session.csrf if caller.session else ""
        return html(repositories_page(rows, user=caller.identity.username, csrf=csrf))

    async def application(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        ns, name = request.match_info["ns"], request.match_info["name"]
        view = await self._run(self._reader(caller).application_view, ns, name)
        csrf = caller.session.csrf if caller.session else ""
        notice = caller.session.take_notice() if caller.session else ""
        body = application_page(view, user=caller.identity.username, csrf=csrf, notice=notice)
        return html(body)

    async def object(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        ns, name, q = request.match_info["ns"], request.match_info["name"], request.query
        reader = self._reader(caller)
        app = await self._run(reader.application, ns, name)
        version = q.get("apiVersion", "")
        ref = ObjectRef(
            group_of(version), q.get("kind", ""), q.get("namespace", ""), q.get("name", "")
        )
        text = await self._run(reader.object_yaml, app, version, ref)
        drift = next(
            (
                d
                for d in (app.get("status") or {}).get("drift") or []
                if isinstance(d, dict) and d.get("object") == str(ref)
            ),
            None,
        )
        shown = (
            TreeObject(
                ref, version, "", tuple(drift.get("fields") or []), bool(drift.get("missing"))
            )
            if drift
            else None
        )
        csrf = caller.session.csrf if caller.session else ""
        body = object_page(
            ns, name, f"{ref.kind} {ref}", text, shown, user=caller.identity.username, csrf=csrf
        )
        return html(body)

    async def diff(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        ns, name = request.match_info["ns"], request.match_info["name"]
        app = await self._run(self._reader(caller).application, ns, name)
        base, head = request.query.get("base", ""), request.query.get("head", "")
        report = await self._run(revision_diff, caller.kube, self.renderer, app, base, head)
        csrf = caller.session.csrf if caller.session else ""
        data = as_data(report)
        if wants_json(request):
            return web.json_response(data)
        return html(diff_page(ns, name, data, user=caller.identity.username, csrf=csrf))

    # -- actions ------------------------------------------------------------------------

    async def act(self, request: web.Request) -> web.StreamResponse:
        caller = request[CALLER]
        ns, name = request.match_info["ns"], request.match_info["name"]
        try:
            action = actions.Action(request.match_info["action"])
        except ValueError as exc:
            raise web.HTTPNotFound() from exc
        form = await request.post()
        wanted = actions.Request(action, ns, name, str(form.get("revision", "")))
        message = await self._run(actions.perform, caller.kube, self.own, caller.identity, wanted)
        if caller.session is None:
            return web.json_response({"message": message})
        caller.session.notice = message
        return see_other(app_path(ns, name))

    # -- live ---------------------------------------------------------------------------

    async def live_list(self, request: web.Request) -> web.StreamResponse:
        caller = request[CALLER]
        filters = Filters.from_query(request.query)
        namespaces: list[str | None] = [filters.namespace or None]
        if filters.namespace == "":
            namespaces = await self._run(self._watchable, caller)

        def shape(kind: str, obj: KubeObject) -> Message | None:
            row = app_row(obj)
            if kind == "DELETED" or not filters.keeps(row):
                return ("gone", json.dumps({"key": f"{row.namespace}/{row.name}"}))
            return ("app", json.dumps(row.as_data(now())))

        return await self._stream(
            request, caller, Watch(caller.kube, namespaces, request.query.get("rv", ""), shape)
        )

    async def live_application(self, request: web.Request) -> web.StreamResponse:
        caller = request[CALLER]
        ns, name = request.match_info["ns"], request.match_info["name"]
        rendered = request.query.get("rv", "")

        def shape(kind: str, obj: KubeObject) -> Message | None:
            meta = obj.get("metadata") or {}
            if meta.get("name") != name or (
                kind == "ADDED" and meta.get("resourceVersion") == rendered
            ):
                return None
            return ("changed", json.dumps({"resourceVersion": meta.get("resourceVersion", "")}))

        return await self._stream(request, caller, Watch(caller.kube, [ns], "", shape))

    async def _stream(
        self, request: web.Request, caller: Caller, watch: Watch
    ) -> web.StreamResponse:
        session = caller.session
        if session is not None:
            session.hold_stream(watch.stop)
        try:
            return await watch.serve(request)
        finally:
            if session is not None:
                session.release_stream(watch.stop)

    def _watchable(self, caller: Caller) -> list[str | None]:
        """None (all namespaces) when the person may list cluster-wide, else the
        namespaces where they may list Applications."""
        if may(caller.kube, "watch", GROUP, APPLICATION_PLURAL, ""):
            return [None]
        allowed: list[str | None] = []
        for ns in self._namespaces(caller):
            if may(caller.kube, "watch", GROUP, APPLICATION_PLURAL, ns):
                allowed.append(ns)
        return allowed
