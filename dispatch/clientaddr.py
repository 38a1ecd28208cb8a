"""The client's address: one answer for rate limits, sign-in throttling, the audit log and the request logs.

It is the connection's peer, unless that peer is one of ``SHANGLIANG_TRUSTED_PROXIES`` (addresses or networks,
comma-separated; ``*`` for any peer, when a proxy is the only way in): then ``X-Forwarded-For``, walked from the
right past trusted hops, names it. Nothing else is believed — in particular not uvicorn's own rewrite of the
peer, which plain ``uvicorn dispatch.asgi:app`` does for 127.0.0.1 and ::1 by default (``--proxy-headers``):
``ClientAddress``, the app's outermost step, reads the peer from the connection itself and puts the address
decided here into the scope, where ``request.client`` and uvicorn's access log read it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from functools import lru_cache

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from dispatch.config import get_settings

log = logging.getLogger(__name__)

SCOPE_KEY = "shangliang.client"  # the address decided by ``ClientAddress``
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(spec: str) -> tuple[Network, ...]:
    nets: list[Network] = []
    for part in spec.split(","):
        part = part.strip()
        if part == "*":
            nets += [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
        elif part:
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                log.warning("SHANGLIANG_TRUSTED_PROXIES: ignoring %r", part)
    return tuple(nets)


def trusted_networks() -> tuple[Network, ...]:
    return _networks(get_settings().trusted_proxies)


def _trusted(host: str, nets: tuple[Network, ...]) -> bool:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:  # ::ffff:10.0.0.1 is 10.0.0.1
        addr = addr.ipv4_mapped
    return any(addr in net for net in nets)


def resolve(peer: str, headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's address given the connection's peer and the request's (ASGI) headers."""
    nets = trusted_networks()
    if not nets or not _trusted(peer, nets):
        return peer
    forwarded = ",".join(v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, nets):
            return hop
    return hops[0] if hops else peer


def _connection_peer(scope: Scope, receive: Receive) -> tuple[str, int] | None:
    """The peer of the connection itself, before any server rewrote ``scope["client"]`` from headers: uvicorn's
    ``receive`` is a method of an object holding the transport. Elsewhere, the scope's client as given."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple | list) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    client = scope.get("client")
    return (str(client[0]), int(client[1])) if client else None


class ClientAddress:
    """Pure ASGI, outermost: decides the client's address once per request or socket (``resolve``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = _connection_peer(scope, receive)
            host = resolve(peer[0], scope.get("headers") or ()) if peer else ""
            scope[SCOPE_KEY] = host
            if peer is not None:
                scope["client"] = (host, peer[1] if host == peer[0] else 0)
        await self.app(scope, receive, send)


def client_ip(conn: HTTPConnection) -> str:
    """The caller's address (see the module's docstring)."""
    host = conn.scope.get(SCOPE_KEY)
    if host is None:  # no ClientAddress in front (a bare app in a test): the scope's client as the server gave it
        client = conn.scope.get("client")
        host = resolve(client[0], conn.scope.get("headers") or ()) if client else ""
    return host
