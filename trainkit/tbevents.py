"""A TensorBoard event-file writer for scalars with no TensorFlow import (tensorboard's own writer
imports TensorFlow when it is installed): records in TFRecord framing (masked CRC-32C) holding
`Event` protobufs encoded by hand. Used by `trainkit.run` in scripts, which must stay light."""
from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked(data: bytes) -> bytes:
    c = crc32c(data)
    return struct.pack("<I", (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _field(num: int, wire: int, payload: bytes) -> bytes:
    key = _varint(num << 3 | wire)
    return key + (_varint(len(payload)) + payload if wire == 2 else payload)


def _event(wall_time: float, step: int, **kind: bytes) -> bytes:
    body = _field(1, 1, struct.pack("<d", wall_time)) + _field(2, 0, _varint(step & (2 ** 64 - 1)))
    if "file_version" in kind:
        body += _field(3, 2, kind["file_version"])
    if "summary" in kind:
        body += _field(5, 2, kind["summary"])
    return body


def scalar_summary(tag: str, value: float) -> bytes:
    value_msg = _field(1, 2, tag.encode()) + _field(2, 5, struct.pack("<f", value))
    return _field(1, 2, value_msg)


class EventWriter:
    """Appends scalar events to one events.out.tfevents.* file in `logdir`."""

    def __init__(self, logdir: str | Path):
        self.dir = Path(logdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.trainkit"
        self._write(_event(time.time(), 0, file_version=b"brain.Event:2"))

    def _write(self, record: bytes) -> None:
        header = struct.pack("<Q", len(record))
        with open(self.path, "ab") as f:
            f.write(header + _masked(header) + record + _masked(record))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._write(_event(time.time(), step, summary=scalar_summary(tag, float(value))))

    def image(self, tag: str, png: bytes, step: int) -> None:
        """A PNG image (its size read from the IHDR chunk)."""
        width, height = struct.unpack(">II", png[16:24])
        image = _field(1, 0, _varint(height)) + _field(2, 0, _varint(width)) + _field(3, 0, _varint(4)) + _field(4, 2, png)
        value = _field(1, 2, tag.encode()) + _field(4, 2, image)
        self._write(_event(time.time(), step, summary=_field(1, 2, value)))
