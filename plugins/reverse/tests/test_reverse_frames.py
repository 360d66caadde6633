"""The multiplexing protocol: round trips and hostile input."""

from __future__ import annotations

import struct

import pytest

from rosetta_reverse import frames
from rosetta_reverse.frames import CLOSE, DATA, MAX_PAYLOAD, OPEN, RESET, WINDOW, Frame, ProtocolError


@pytest.mark.parametrize(
    ("stream", "kind", "payload"),
    [
        (1, OPEN, b""),
        (7, DATA, b"x"),
        (2**32 - 1, DATA, b"\0" * MAX_PAYLOAD),
        (3, CLOSE, b""),
        (4, RESET, b""),
        (5, WINDOW, struct.pack(">I", 65536)),
    ],
)
def test_round_trip(stream: int, kind: int, payload: bytes) -> None:
    message = frames.encode(stream, kind, payload)
    assert message[:5] == struct.pack(">IB", stream, kind)
    assert frames.decode(message) == Frame(stream, kind, payload)


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"\0\0\0\1",  # shorter than a header
        struct.pack(">IB", 0, DATA) + b"x",  # stream 0 is reserved
        struct.pack(">IB", 1, 0),  # unknown types
        struct.pack(">IB", 1, 6),
        struct.pack(">IB", 1, 255),
        struct.pack(">IB", 1, WINDOW),  # WINDOW: exactly 4 bytes, 1 to 2**31 - 1
        struct.pack(">IBH", 1, WINDOW, 1),
        struct.pack(">IBI", 1, WINDOW, 0),
        struct.pack(">IBI", 1, WINDOW, 2**31),
        struct.pack(">IBIB", 1, WINDOW, 1, 0),
        struct.pack(">IB", 1, DATA),  # empty DATA
        struct.pack(">IB", 1, DATA) + b"\0" * (MAX_PAYLOAD + 1),
        struct.pack(">IB", 1, OPEN) + b"x",  # payloads where none belongs
        struct.pack(">IB", 1, CLOSE) + b"x",
        struct.pack(">IB", 1, RESET) + b"x",
    ],
)
def test_decode_refuses(message: bytes) -> None:
    with pytest.raises(ProtocolError):
        frames.decode(message)


@pytest.mark.parametrize(
    ("stream", "kind", "payload"),
    [(0, OPEN, b""), (2**32, OPEN, b""), (-1, DATA, b"x"), (1, 9, b""), (1, DATA, b""), (1, OPEN, b"x")],
)
def test_encode_refuses(stream: int, kind: int, payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        frames.encode(stream, kind, payload)


def test_protocol_error_is_a_value_error() -> None:
    assert issubclass(ProtocolError, ValueError)


def test_window_grants_an_increment() -> None:
    assert frames.increment_of(frames.decode(frames.window(3, 1000))) == 1000
    for bad in (0, -1, 2**31):
        with pytest.raises(ProtocolError):
            frames.window(3, bad)
