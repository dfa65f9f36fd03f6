"""Sessions of the web UI: the bearer token stays on the server, keyed by a random
cookie; each session carries its CSRF token and a bound on live connections."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from ..kube_identity import Identity

SESSION_TTL = 8 * 3600.0
"""Seconds a session lives without use."""
REVIEW_EVERY = 300.0
"""Seconds after which the token is reviewed again (a deleted ServiceAccount, an expired
token: the session ends at the next review)."""
MAX_STREAMS = 4
"""Live (server-sent events) connections one session may hold at once; a new one ends
the oldest (the page a person looks at is the newest)."""
MAX_SESSIONS = 10_000


@dataclass(slots=True)
class Session:
    """One signed-in person. Mutable: last use, last review, open streams."""

    identity: Identity
    token: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    reviewed_at: float = field(default_factory=time.monotonic)
    used_at: float = field(default_factory=time.monotonic)
    streams: list[threading.Event] = field(default_factory=list)
    """The stop switches of its live connections, oldest first."""
    notice: str = ""
    """Said once on the next page: what the last action asked."""

    def csrf_ok(self, offered: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), offered.encode())

    def take_notice(self) -> str:
        notice, self.notice = self.notice, ""
        return notice

    def hold_stream(self, stop: threading.Event) -> None:
        """Count a new live connection, ending the oldest beyond ``MAX_STREAMS``."""
        while len(self.streams) >= MAX_STREAMS:
            self.streams.pop(0).set()
        self.streams.append(stop)

    def release_stream(self, stop: threading.Event) -> None:
        if stop in self.streams:
            self.streams.remove(stop)

    def review_due(self, now: float) -> bool:
        return now - self.reviewed_at > REVIEW_EVERY


class SessionStore:
    """Sessions by cookie value, in memory: a restart signs everyone out."""

    def __init__(self, ttl: float = SESSION_TTL) -> None:
        self._ttl = ttl
        self._sessions: dict[str, Session] = {}

    def create(self, identity: Identity, token: str) -> tuple[str, Session]:
        self._expire(time.monotonic())
        if len(self._sessions) >= MAX_SESSIONS:  # the oldest gives way
            oldest = min(self._sessions, key=lambda k: self._sessions[k].used_at)
            del self._sessions[oldest]
        key = secrets.token_urlsafe(32)
        session = Session(identity, token)
        self._sessions[key] = session
        return key, session

    def get(self, key: str) -> Session | None:
        now = time.monotonic()
        session = self._sessions.get(key)
        if session is None:
            return None
        if now - session.used_at > self._ttl:
            del self._sessions[key]
            return None
        session.used_at = now
        return session

    def drop(self, key: str) -> None:
        self._sessions.pop(key, None)

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if now - s.used_at > self._ttl]:
            del self._sessions[key]
