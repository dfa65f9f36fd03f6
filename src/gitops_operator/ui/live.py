"""Live updates as server-sent events: one watch of Applications per connection, made
with the person's client, so RBAC filters what reaches the page as it filters the page.

The blocking watch runs on a thread and hands events to the connection's queue; a
watch that the API server ends is resumed from the last resourceVersion, and one whose
resourceVersion is too old (410) is replaced by a fresh list, sent whole.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..api import API_VERSION, APPLICATION_KIND
from ..errors import ApiError, GitOpsError
from ..kube_ui import UiKubeClient
from ..objects import KubeObject

log = logging.getLogger(__name__)

WATCH_SECONDS = 60
"""A watch request lasts this long: a closed page frees its watch within it."""
HEARTBEAT_SECONDS = 15.0
RETRY_SECONDS = 2.0
FORBIDDEN = 403

Message = tuple[str, str]
"""An SSE event name and its data (one line of JSON)."""
Shape = Callable[[str, KubeObject], Message | None]
"""A watch event (type, object) as a message for the page, or None to send nothing."""


@dataclass(slots=True)
class Watch:
    """One connection's watches: one per namespace in ``namespaces`` (None: all)."""

    kube: UiKubeClient
    namespaces: list[str | None]
    since: str
    shape: Shape
    stop: threading.Event = field(default_factory=threading.Event)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        log.info("live stream opened path=%s namespaces=%s", request.path, self.namespaces)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=10_000)

        def put(message: Message) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, message)

        threads = [
            threading.Thread(target=self._pump, args=(ns, put), name="ui-watch", daemon=True)
            for ns in self.namespaces
        ]
        for thread in threads:
            thread.start()
        try:
            await response.write(b"retry: 2000\n\n")
            quiet = 0.0
            # A closed page is noticed within a second (aiohttp does not cancel the
            # handler), and a stream the session gave up (``stop``) ends as soon.
            while not self.stop.is_set() and not _closed(request):
                try:
                    name, data = await asyncio.wait_for(queue.get(), 1.0)
                except TimeoutError:
                    quiet += 1.0
                    if quiet >= HEARTBEAT_SECONDS:
                        await response.write(b": keep-alive\n\n")
                        quiet = 0.0
                    continue
                quiet = 0.0
                await response.write(f"event: {name}\ndata: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.stop.set()
            log.info("live stream closed path=%s", request.path)
        return response

    def _pump(self, namespace: str | None, put: Callable[[Message], None]) -> None:
        """Watch until told to stop; every change shaped and queued."""
        since = self.since
        while not self.stop.is_set():
            try:
                if not since:
                    items, since = self.kube.list_with_version(
                        API_VERSION, APPLICATION_KIND, namespace
                    )
                    self._send_all(items, put)
                since = self._follow(namespace, since, put)
            except ApiError as exc:
                if exc.code == FORBIDDEN:
                    put(("denied", json.dumps({"message": exc.message})))
                    return
                log.info("ui watch failed, retrying: %s", exc.message)
                self.stop.wait(RETRY_SECONDS)
            except GitOpsError as exc:
                log.info("ui watch failed, retrying: %s", exc.message)
                self.stop.wait(RETRY_SECONDS)

    def _follow(self, namespace: str | None, since: str, put: Callable[[Message], None]) -> str:
        """One watch request; the resourceVersion to resume from ("" after a 410)."""
        events = self.kube.watch(API_VERSION, APPLICATION_KIND, namespace, since, WATCH_SECONDS)
        for event in events:
            if self.stop.is_set():
                break
            kind, obj = str(event.get("type", "")), event.get("object") or {}
            if kind == "ERROR":
                return ""  # expired resourceVersion: list again
            since = str((obj.get("metadata") or {}).get("resourceVersion") or since)
            if kind != "BOOKMARK":
                self._send(kind, obj, put)
        return since

    def _send_all(self, items: list[KubeObject], put: Callable[[Message], None]) -> None:
        for item in items:
            self._send("ADDED", item, put)

    def _send(self, kind: str, obj: dict[str, Any], put: Callable[[Message], None]) -> None:
        message = self.shape(kind, obj)
        if message is not None:
            put(message)


def _closed(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
