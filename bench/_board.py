"""A board socket in its own process, so that the load generator's event loop cannot slow it down.

    python bench/_board.py HOST PORT TOKEN OUTFILE

Appends ``case_id received_at`` to OUTFILE for every ``case.offered``/``case.escalated`` event, reconnecting
with ``last_event_id`` when the server closes the socket; writes ``ready`` first once connected.
"""

from __future__ import annotations

import asyncio
import json
import sys

from _common import WsClient

WANTED = (b'"case.offered"', b'"case.escalated"')


async def main(host: str, port: int, token: str, out_path: str) -> None:
    out = open(out_path, "a", buffering=1)  # noqa: SIM115 - open for the life of the process
    last_id: str | None = None
    reconnects = 0

    def on_text(payload: bytes, at: float) -> None:
        nonlocal last_id
        event = json.loads(payload)
        if event.get("id") and event.get("type") not in ("hello", "replay.gap"):
            last_id = event["id"]
        if any(w in payload for w in WANTED):
            out.write(f"{event['case']['id']} {at:.6f}\n")

    first = True
    while True:
        path = f"/ws/board?token={token}" + (f"&last_event_id={last_id}" if last_id else "")
        ws = await WsClient.open(host, port, path, on_text)
        if first:
            out.write("ready\n")
            first = False
        code = await ws.closed
        reconnects += 1
        print(f"board socket closed ({code}); reconnect {reconnects} after {last_id}", file=sys.stderr)


if __name__ == "__main__":
    host, port, token, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    asyncio.run(main(host, port, token, out_path))
