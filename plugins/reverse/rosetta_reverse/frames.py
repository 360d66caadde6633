"""The multiplexing protocol: many TCP streams over the binary messages of one WebSocket.

Every message is one frame: a 4-byte big-endian stream id (1 to 2**32 - 1; 0 is reserved), a
1-byte type, then the payload. Types:

- ``OPEN`` (platform -> agent, empty): connect a new stream to the task's interface.
- ``DATA`` (either way, 1 to :data:`MAX_PAYLOAD` bytes): bytes of the stream, in order.
- ``CLOSE`` (either way, empty): the sender will send no more on this stream (a half-close); the
  stream ends once both sides have sent it.
- ``RESET`` (either way, empty): the stream is aborted (the target refused, an error); no more
  frames of it follow.
- ``WINDOW`` (either way, a 4-byte big-endian increment, 1 to 2**31 - 1): the sender has written
  that many more of the stream's bytes to their destination, so the peer may send that many more.
  Each side may send :data:`INITIAL_WINDOW` bytes of a stream before the first ``WINDOW``.

:func:`decode` is strict: anything else raises :class:`ProtocolError`. This module runs on Python
3.6 as well (it ships with the in-job agent), so it uses no newer syntax.
"""

import struct
from typing import NamedTuple

OPEN = 1
DATA = 2
CLOSE = 3
RESET = 4
WINDOW = 5
KINDS = (OPEN, DATA, CLOSE, RESET, WINDOW)
MAX_PAYLOAD = 64 * 1024
INITIAL_WINDOW = 256 * 1024
MAX_INCREMENT = 2**31 - 1
INCREMENT = struct.Struct(">I")
MAX_STREAM = 2**32 - 1
HEADER = struct.Struct(">IB")


class ProtocolError(ValueError):
    """A frame that breaks the protocol; the connection carrying it should be dropped."""


class Frame(NamedTuple):
    """One decoded frame."""

    stream: int
    kind: int
    payload: bytes


def _check(stream: int, kind: int, payload: bytes) -> None:
    if not 0 < stream <= MAX_STREAM:
        raise ProtocolError(f"stream id out of range: {stream!r}")
    if kind not in KINDS:
        raise ProtocolError(f"unknown frame type: {kind!r}")
    if kind == DATA:
        if not 0 < len(payload) <= MAX_PAYLOAD:
            raise ProtocolError(f"DATA payload of {len(payload)} bytes (1 to {MAX_PAYLOAD} allowed)")
    elif kind == WINDOW:
        if len(payload) != INCREMENT.size or not 0 < INCREMENT.unpack(payload)[0] <= MAX_INCREMENT:
            raise ProtocolError(f"WINDOW needs an increment of 1 to {MAX_INCREMENT} in 4 bytes")
    elif payload:
        raise ProtocolError(f"frame type {kind} carries no payload")


def encode(stream: int, kind: int, payload: bytes = b"") -> bytes:
    """The message for one frame; raises :class:`ProtocolError` for a frame :func:`decode` would refuse."""
    _check(stream, kind, payload)
    return HEADER.pack(stream, kind) + bytes(payload)


def decode(message: bytes) -> Frame:
    """The frame in one message; raises :class:`ProtocolError` unless it is exactly one valid frame."""
    if len(message) < HEADER.size:
        raise ProtocolError(f"message of {len(message)} bytes is shorter than a frame header")
    stream, kind = HEADER.unpack_from(message)
    payload = bytes(message[HEADER.size :])
    _check(stream, kind, payload)
    return Frame(stream, kind, payload)


def window(stream: int, increment: int) -> bytes:
    """The ``WINDOW`` message granting ``increment`` more bytes of ``stream``."""
    if not 0 < increment <= MAX_INCREMENT:
        raise ProtocolError(f"WINDOW increment out of range: {increment!r}")
    return encode(stream, WINDOW, INCREMENT.pack(increment))


def increment_of(frame: Frame) -> int:
    """The increment a decoded ``WINDOW`` frame grants."""
    return int(INCREMENT.unpack(frame.payload)[0])
