"""A local HTTP receiver of notifications for the tests: it records each POST, checks a
generic-hmac signature the way a receiver would (``X-Signature: sha256=<hex>`` of the raw
body, keyed with the shared secret) and answers 401 when it does not match."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool | None
    """The signature matched (None: this receiver checks none)."""

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, hmac_key: str | None = None) -> None:
        self.hmac_key = hmac_key
        self.received: list[Received] = []
        self.answers: list[int] = []
        """Status codes to answer with first (then 200), e.g. [503] for one outage."""
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                verified = None
                if receiver.hmac_key is not None:
                    expected = (
                        "sha256="
                        + hmac.new(receiver.hmac_key.encode(), body, hashlib.sha256).hexdigest()
                    )
                    verified = hmac.compare_digest(self.headers.get("X-Signature", ""), expected)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), body, verified)
                    )
                    code = receiver.answers.pop(0) if receiver.answers else 200
                if verified is False:
                    code = 401
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reasons(self) -> list[str]:
        with self._lock:
            return [r.json.get("reason", "") for r in self.received if r.body.startswith(b"{")]

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
