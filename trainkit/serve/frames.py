"""The pipe between the server and its score worker (`--score`): frames of one kind byte, a 4-byte
big-endian length and the payload, over a Unix socket pair. Standard library only: the worker
process imports this and nothing else of trainkit's serving stack.

    server -> worker   REQUEST  the request body (bytes), handed to run() as text
    worker -> server   READY    init() returned (payload: empty)
                       ANSWER   run()'s result as JSON text
                       FAILED   a JSON object {"where": "import|init|run|result", "type", "message", "traceback"}
"""
from __future__ import annotations

import socket
import struct

REQUEST, READY, ANSWER, FAILED = b"Q", b"R", b"A", b"E"
KINDS = (REQUEST, READY, ANSWER, FAILED)
HEADER = struct.Struct(">cI")


class ChannelClosed(Exception):
    """The other end closed the pipe (or died) before a whole frame arrived."""


class FrameTooLarge(Exception):
    """A frame announced more bytes than the reader accepts."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"{size} bytes (limit {limit})")
        self.size, self.limit = size, limit


def send(sock: socket.socket, kind: bytes, payload: bytes = b"") -> None:
    sock.sendall(HEADER.pack(kind, len(payload)) + payload)


def receive(sock: socket.socket, limit: int) -> tuple[bytes, bytes]:
    """One frame (kind, payload); ChannelClosed at end of stream, FrameTooLarge past `limit` bytes."""
    kind, size = HEADER.unpack(_exactly(sock, HEADER.size))
    if kind not in KINDS:
        raise ChannelClosed(f"unknown frame kind {kind!r}")
    if size > limit:
        raise FrameTooLarge(size, limit)
    return kind, _exactly(sock, size)


def _exactly(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ChannelClosed(f"end of stream after {n - left} of {n} bytes")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
