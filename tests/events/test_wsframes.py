"""The frames the hub writes straight to sockets parse as websocket text frames at every length encoding."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from dispatch.infra.wsframes import text_frame


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_text_frames_parse_at_every_length(size):
    payload = ("事" * (size // 3) + "x" * (size % 3)).encode()
    reader = StreamReader()
    reader.feed_data(text_frame(payload) + text_frame(b'{"next":1}'))  # two frames in one write
    frames = []
    for _ in range(2):
        parser = Frame.parse(reader.read_exact, mask=False)
        with pytest.raises(StopIteration) as done:
            next(parser)
        frames.append(done.value.value)
    expected = [(Opcode.TEXT, True, payload), (Opcode.TEXT, True, b'{"next":1}')]
    assert [(f.opcode, f.fin, f.data) for f in frames] == expected
