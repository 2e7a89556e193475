"""Length-prefixed msgpack frames on a Unix socket, with file descriptors riding along
(SCM_RIGHTS): the warm launcher's transport. Blocking side (the zygote) and asyncio side
(the launcher) share the framing here."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import msgspec

_HEADER = struct.Struct(">I")
MAX_FRAME = 16 * 1024 * 1024
_encoder = msgspec.msgpack.Encoder()


def frame(message: Any) -> bytes:
    body = _encoder.encode(message)
    return _HEADER.pack(len(body)) + body


def recv_frame(sock: socket.socket, max_fds: int = 0) -> tuple[bytes, list[int]]:
    """One frame from a blocking socket, with the descriptors sent along with it."""
    fds: list[int] = []
    head = b""
    while len(head) < _HEADER.size:
        data, received, _, _ = socket.recv_fds(sock, _HEADER.size - len(head), max_fds or 1)
        if not data:
            raise ConnectionError("peer closed the connection")
        fds.extend(received)
        head += data
    (size,) = _HEADER.unpack(head)
    if size > MAX_FRAME:
        raise ConnectionError(f"frame of {size} bytes is larger than {MAX_FRAME}")
    return _recv_exactly(sock, size), fds


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        data = sock.recv(size - len(chunks))
        if not data:
            raise ConnectionError("peer closed the connection")
        chunks += data
    return bytes(chunks)


async def async_recv_frame(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    head = await _async_recv_exactly(loop, sock, _HEADER.size)
    (size,) = _HEADER.unpack(head)
    if size > MAX_FRAME:
        raise ConnectionError(f"frame of {size} bytes is larger than {MAX_FRAME}")
    return await _async_recv_exactly(loop, sock, size)


async def _async_recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                              size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        data = await loop.sock_recv(sock, size - len(chunks))
        if not data:
            raise ConnectionError("peer closed the connection")
        chunks += data
    return bytes(chunks)
