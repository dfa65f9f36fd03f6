"""kopf's connection to the API server, with a bounded pool.

kopf's own session opens a new TLS connection for every request made while the others
are busy (its pool has no limit): when a thousand Applications are created at once,
each one's finalizer PATCH (and later its Events) runs concurrently, and each connection
costs about 250 KiB (asyncio's TLS buffer and OpenSSL's state). The connections close
when idle, but the heap they fragmented stays resident: about 22 MiB for the ~100
connections of 1000 Applications. This login does what kopf's default one does
(``kopf.login_via_client``: the kubeconfig or the in-cluster account) and hands kopf a
session whose pool holds at most ``REQUESTS`` connections besides one per watch stream;
more requests wait for a free connection instead.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import kopf

REQUESTS = 32
"""Connections for kopf's requests (finalizers, Events), besides its watch streams."""
STREAMS_PER_NAMESPACE = 16
"""Room for kopf's watch streams per namespace watched (one per watched resource)."""


class _Pool:
    """How many connections kopf may open; 0 is no limit (kopf's own default)."""

    limit = REQUESTS + STREAMS_PER_NAMESPACE


def bound_for(namespaces: list[str] | None) -> None:
    """Size the pool for the namespaces kopf is told to watch (None: the whole cluster,
    one stream per resource). A namespace pattern could match any number of namespaces,
    each with its own streams: then the pool is left unbounded, as kopf has it."""
    if namespaces and any(c in ns for ns in namespaces for c in "*?![]"):
        _Pool.limit = 0
    else:
        _Pool.limit = REQUESTS + STREAMS_PER_NAMESPACE * max(1, len(namespaces or ()))


async def login(
    logger: logging.Logger | logging.LoggerAdapter[Any],
    settings: kopf.OperatorSettings,
    **kwargs: Any,
) -> kopf.AiohttpSession | None:
    info = kopf.login_via_client(logger=logger, settings=settings, **kwargs)
    if info is None:
        return None
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=_Pool.limit, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        auth=info.as_aiohttp_basic_auth(),
        proxy=info.proxy_url,
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        expiration=info.expiration,
        aiohttp_session=session,
    )


kopf.on.login()(login)  # in place of kopf's default login, which is called inside
