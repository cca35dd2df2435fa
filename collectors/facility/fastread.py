"""Read MQTT in bursts: stock aiomqtt 2.x spends an event-loop turn per message.

aiomqtt puts paho's socket on `loop.add_reader` and calls paho's `loop_read()`, which in
paho 2.x handles one packet per call (`max_packets` counts only QoS 2 and outgoing messages
in flight) and reads that packet with recv(1) for its first byte, recv(1) per byte of its
length, and recv(rest). Its `messages` iterator then creates a task and an `asyncio.wait`
per message. One QoS 1 subscriber therefore stops near 15,000 messages/s on a 2-core
machine, with the broker able to send 90,000 (docs/benchmarks.md, "Facility bridge").

Two hooks, kept to this module because both rest on private parts of aiomqtt 2.x and
paho-mqtt 2.x. `install` checks each part it needs and returns False (the bridge then logs a
warning and reads the stock way) if one moved; tests/integration/test_facility_fastread.py fails on
False, so an upgrade that changes them shows in the tests, not as a silent slowdown:

1. paho's socket is wrapped in `_BufferedSocket`: one recv() of up to 64 KiB, from which
   paho's small recv() calls are served. The wrapper reports its buffered bytes through
   `pending()`, which aiomqtt's reader callback already polls (for TLS sockets, whose
   decrypted bytes select() cannot see), so that callback keeps calling `loop_read()` until
   the buffer is empty: one event-loop turn per 64 KiB rather than per message, and the
   PUBACKs of the burst go out together on the next write turn. Nothing else changes: paho
   still acknowledges each QoS 1 message after handing it to aiomqtt, as before.
2. `take_ready` moves every message already in aiomqtt's incoming queue in one call, so
   the bridge awaits once per burst instead of once per message.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from typing import Any

import aiomqtt
import paho.mqtt.client as paho

log = logging.getLogger(__name__)

RECV_CHUNK_BYTES = 64 * 1024
SUPPORTED_MAJOR = {"aiomqtt": "2", "paho-mqtt": "2"}  # the internals below were read in aiomqtt 2.5, paho-mqtt 2.2


class _BufferedSocket:
    """paho's socket (plain, TLS or websocket), with reads served from one large recv()."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0
        self.refills = 0  # real recv() calls that returned data, for tests

    def recv(self, bufsize: int) -> bytes:
        pos, data = self._pos, self._data
        if pos >= len(data):
            # BlockingIOError / ssl.SSLWantReadError propagate to paho, which handles them
            data = self._sock.recv(max(bufsize, RECV_CHUNK_BYTES))
            self._data, pos = data, 0
            self.refills += 1
        end = min(pos + bufsize, len(data))  # at most what is buffered: a short read, as a socket may give
        self._pos = end
        return data[pos:end]

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._data) - self._pos + inner

    def __getattr__(self, name: str) -> Any:  # send, fileno, close, setsockopt, …
        return getattr(self._sock, name)


def install(client: aiomqtt.Client) -> bool:
    """Make `client` read in bursts; call before `async with client`. False: left stock."""
    problem = _unsupported(client)
    if problem:
        log.warning("MQTT burst reading not installed (%s); reading one message per event-loop turn", problem)
        return False
    mqtt: paho.Client = client._client
    stock_open = mqtt.on_socket_open

    def on_socket_open(mqtt_client: paho.Client, userdata: Any, sock: Any) -> None:
        buffered = _BufferedSocket(sock)
        mqtt_client._sock = buffered  # paho's _sock_recv reads self._sock
        stock_open(mqtt_client, userdata, buffered)  # type: ignore[misc]

    mqtt.on_socket_open = on_socket_open
    return True


def take_ready(client: aiomqtt.Client, first: aiomqtt.Message, limit: int) -> list[aiomqtt.Message]:
    """`first` and the messages already waiting behind it, at most `limit` in all."""
    queue: asyncio.Queue[aiomqtt.Message] = client._queue
    batch = [first]
    for _ in range(min(queue.qsize(), limit - 1)):
        batch.append(queue.get_nowait())
    return batch


def buffered_socket(client: aiomqtt.Client) -> _BufferedSocket | None:
    """The wrapper on `client`'s open connection, if `install` put one there (for tests)."""
    sock = getattr(client._client, "_sock", None)
    return sock if isinstance(sock, _BufferedSocket) else None


def _unsupported(client: aiomqtt.Client) -> str | None:
    for dist, major in SUPPORTED_MAJOR.items():
        version = importlib.metadata.version(dist)
        if version.split(".")[0] != major:
            return f"{dist} {version} is not {major}.x"
    mqtt = getattr(client, "_client", None)
    if not isinstance(mqtt, paho.Client):
        return "aiomqtt.Client has no paho client at ._client"
    if not isinstance(getattr(client, "_queue", None), asyncio.Queue):
        return "aiomqtt.Client has no asyncio.Queue at ._queue"
    stock_open = mqtt.on_socket_open
    if getattr(stock_open, "__func__", None) is not type(client).__dict__.get("_on_socket_open"):
        return "paho's on_socket_open is not aiomqtt's _on_socket_open"
    for name in ("_sock", "_sock_recv", "_packet_read"):
        if not hasattr(mqtt, name):
            return f"paho.mqtt.client.Client has no {name}"
    return None
