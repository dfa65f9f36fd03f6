"""Who is asking, for each request: a bearer token (header) or a session (cookie), the
token reviewed with TokenReview by the UI's own account. ``--insecure-local`` skips all
of it (a demo on 127.0.0.1 with the kubeconfig's own rights)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

from aiohttp import web

from ..errors import ApiError
from ..kube_identity import Identity, review_token
from ..kube_ui import UiKubeClient
from .sessions import Session, SessionStore

COOKIE = "gitops_ui_session"
LOCAL_USER = "local kubeconfig user (--insecure-local)"
BEARER_CACHE_SECONDS = 60.0
MAX_TOKEN_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Caller:
    """The person behind one request: their identity, client and session (a browser's;
    None for a bearer-token request, which needs no CSRF token)."""

    identity: Identity
    kube: UiKubeClient
    session: Session | None
    session_key: str = ""


class Authenticator:
    def __init__(self, own: UiKubeClient, sessions: SessionStore, *, insecure_local: bool) -> None:
        self.own = own
        self.sessions = sessions
        self.insecure_local = insecure_local
        self._bearer: dict[str, tuple[float, Identity | None]] = {}

    async def review(self, token: str) -> Identity | None:
        """TokenReview (by the UI's own account); None when the token is refused."""
        if not token or len(token) > MAX_TOKEN_BYTES:
            return None
        try:
            return await asyncio.to_thread(review_token, self.own, token)
        except ApiError:
            return None

    async def caller(self, request: web.Request) -> Caller | None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            identity = await self._bearer_identity(header[7:].strip())
            return None if identity is None else Caller(identity, identity.client(self.own), None)
        key = request.cookies.get(COOKIE, "")
        session = self.sessions.get(key) if key else None
        if session is None and self.insecure_local:
            key, session = self.sessions.create(Identity(LOCAL_USER), "")
        if session is None:
            return None
        if self.insecure_local:
            return Caller(session.identity, self.own, session, key)
        now = time.monotonic()
        if session.review_due(now):
            try:
                again = await asyncio.to_thread(review_token, self.own, session.token)
            except ApiError:  # no answer is no verdict: asked again on the next request
                again = session.identity
            else:
                session.reviewed_at = now
            if again != session.identity:
                self.sessions.drop(key)
                return None
        return Caller(session.identity, session.identity.client(self.own), session, key)

    async def _bearer_identity(self, token: str) -> Identity | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._bearer.get(digest)
        if cached is not None and now - cached[0] < BEARER_CACHE_SECONDS:
            return cached[1]
        identity = await self.review(token)
        if len(self._bearer) > 10_000:
            self._bearer.clear()
        self._bearer[digest] = (now, identity)
        return identity
