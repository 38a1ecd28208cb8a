"""The websocket protocol ``shangliang serve`` runs: uvicorn's, plus one ASGI extension.

The extension (``scope["extensions"]["shangliang.frames"]``) lets the hub write a live event's frame, encoded
once per process, straight to each socket's transport, several frames in one write, instead of one ASGI
``send`` per event per socket: at 1,000 boards and 100 events a second that is the difference between
100,000 coroutine hand-offs a second and a few thousand writes. Frames go out uncompressed, which RFC 7692
allows whatever extension the client negotiated. Servers without the extension (a test client) get the
plain ASGI path.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

EXTENSION = "shangliang.frames"


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked (server → client) text frame."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


class FrameWriter:
    """What the extension hands the app: raw writes to one socket, and how much it has not sent yet."""

    __slots__ = ("_proto",)

    def __init__(self, proto: WebSocketsSansIOProtocol) -> None:
        self._proto = proto

    def write(self, frames: bytes) -> bool:
        """Write whole frames; False once the socket is closing (nothing written)."""
        proto = self._proto
        if proto.close_sent or proto.transport is None or proto.transport.is_closing():
            return False
        proto.transport.write(frames)
        return True

    def backlog(self) -> int:
        """Bytes written but not yet taken by the kernel (a client that stopped reading makes this grow)."""
        transport = self._proto.transport
        return transport.get_write_buffer_size() if transport is not None else 0


class FanoutProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and scope.get("type") == "websocket":
            scope["extensions"][EXTENSION] = FrameWriter(self)
