"""collectors/facility/fastread.py rests on private parts of aiomqtt 2.x and paho-mqtt 2.x:
these tests fail, rather than the bridge silently slowing down, when an upgrade moves them."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import time

import aiomqtt
import pytest

from collectors.facility import fastread
from tests.support.mosquitto import Mosquitto

TOPIC = "facility/s/h/rack-0001/pdu_power_w"


def test_installs_on_the_pinned_aiomqtt_and_paho() -> None:
    async def install() -> bool:
        return fastread.install(aiomqtt.Client("127.0.0.1"))

    assert asyncio.run(install()), "fastread no longer fits aiomqtt/paho internals: see the warning logged above"


def test_an_unknown_major_version_leaves_the_client_stock(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(fastread.SUPPORTED_MAJOR, "aiomqtt", "9")

    async def install() -> tuple[bool, object, object]:
        client = aiomqtt.Client("127.0.0.1")
        stock = client._client.on_socket_open
        return fastread.install(client), stock, client._client.on_socket_open

    with caplog.at_level(logging.WARNING, logger=fastread.__name__):
        installed, before, after = asyncio.run(install())
    assert not installed and before == after
    assert "aiomqtt 2." in caplog.text and "is not 9.x" in caplog.text


def test_buffered_socket_serves_small_reads_from_one_recv() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        sock = fastread._BufferedSocket(ours)
        theirs.sendall(b"\x30\x0babcdefghijk")
        time.sleep(0.05)
        assert sock.recv(1) == b"\x30" and sock.refills == 1
        assert sock.recv(1) == b"\x0b" and sock.pending() == 11
        assert sock.recv(20) == b"abcdefghijk", "a short read, as a socket gives"
        assert sock.pending() == 0 and sock.refills == 1
        with pytest.raises(BlockingIOError):
            sock.recv(1)
        theirs.sendall(b"xy")
        time.sleep(0.05)
        assert sock.recv(1) == b"x" and sock.recv(1) == b"y" and sock.refills == 2
        assert sock.fileno() == ours.fileno(), "everything else is the socket's own"
        theirs.close()
        assert sock.recv(1) == b"", "end of stream reaches paho as it is"
    finally:
        ours.close()
        theirs.close()


def publish_many(broker: Mosquitto, n: int) -> None:
    subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", TOPIC, "-l"],
                   input="\n".join(str(i) for i in range(n)), text=True, check=True, timeout=60)  # fmt: skip


async def drain(url_port: int, client_id: str, n: int) -> tuple[list[int], int, int]:
    """Every payload in order, the take_ready bursts and the socket refills it took."""
    client = aiomqtt.Client("127.0.0.1", url_port, identifier=client_id, clean_session=False)
    assert fastread.install(client)
    got: list[int] = []
    bursts = 0
    async with client:
        async with asyncio.timeout(30):
            async for first in client.messages:
                burst = fastread.take_ready(client, first, 10_000)
                bursts += 1
                got += [int(m.payload) for m in burst]  # type: ignore[arg-type]
                if len(got) >= n:
                    break
        sock = fastread.buffered_socket(client)
        assert sock is not None, "paho's socket is not the buffered one"
        refills = sock.refills
    return got, bursts, refills


async def receive_for(port: int, client_id: str, seconds: float) -> int:
    got = 0
    async with aiomqtt.Client("127.0.0.1", port, identifier=client_id, clean_session=False) as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(seconds):
                async for _ in client.messages:
                    got += 1
    return got


def test_a_backlog_arrives_whole_in_bursts_and_is_acknowledged(mosquitto: Mosquitto) -> None:
    n, client_id = 5_000, f"fast-{time.monotonic_ns()}"
    subprocess.run(["mosquitto_sub", "-p", str(mosquitto.port), "-i", client_id, "-c", "-q", "1", "-t", TOPIC, "-W", "1"],
                   capture_output=True, check=False, timeout=10)  # fmt: skip  # registers the persistent session
    publish_many(mosquitto, n)  # queued by the broker for the session while it is away
    got, bursts, refills = asyncio.run(drain(mosquitto.port, client_id, n))
    assert got == list(range(n)), "QoS 1, in order, none lost or doubled"
    assert bursts < n / 20 and refills < n / 20, f"{bursts} bursts and {refills} recv() for {n} messages"
    # The broker works through a burst's PUBACKs after we disconnect; a client that takes over
    # the session before it has (same id, at once) gets the rest again: QoS 1 is at least once.
    time.sleep(1.0)
    assert asyncio.run(receive_for(mosquitto.port, client_id, 1.0)) == 0, "every message was acknowledged"


def test_automatic_gc_is_off_only_while_the_bridge_runs() -> None:
    import gc

    from collectors.facility.gcpause import CollectBetweenBatches

    assert gc.isenabled()
    with CollectBetweenBatches(full_every_s=0.0) as collector:
        assert not gc.isenabled()
        collector.collect()  # a full collection (full_every_s has passed), GC stays off
        assert not gc.isenabled()
    assert gc.isenabled()
