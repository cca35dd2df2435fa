"""Publish facility readings to MQTT as a site's equipment would (`gpufleet emit --mqtt`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import aiomqtt

from collectors.facility.bridge import MqttConfig
from collectors.facility.payload import encode_reading
from gpufleet.contract.schema import FacilitySample


async def publish_readings(config: MqttConfig, readings: Iterable[FacilitySample], qos: int = 1) -> int:
    """Publish every reading (QoS 1 by default) on one connection; returns how many."""
    sent = 0
    async with aiomqtt.Client(
        config.host,
        config.port,
        username=config.username,
        password=config.password,
        tls_context=config.tls_context(),
        max_inflight_messages=1000,
        max_queued_outgoing_messages=100_000,
    ) as client:
        for reading in readings:
            topic, payload = encode_reading(reading)
            await client.publish(topic, payload, qos=qos)
            sent += 1
    return sent


class MqttFacilityPublisher:
    """`publish_facility` for synchronous callers (the agent's thread): one persistent aiomqtt
    connection on a background event loop; each call returns once its readings are sent
    (QoS 1: acknowledged by the broker)."""

    def __init__(self, config: MqttConfig, timeout_s: float = 30.0) -> None:
        import asyncio
        import threading

        self.config = config
        self.timeout_s = timeout_s
        self.sent = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mqtt-publisher", daemon=True)
        self._thread.start()
        self._client: aiomqtt.Client | None = None

    def publish_facility(self, readings: Sequence[FacilitySample]) -> None:
        import asyncio

        if readings:
            future = asyncio.run_coroutine_threadsafe(self._publish(list(readings)), self._loop)
            self.sent += future.result(timeout=self.timeout_s)

    async def _publish(self, readings: list[FacilitySample]) -> int:
        if self._client is None:
            c = self.config
            client = aiomqtt.Client(c.host, c.port, username=c.username, password=c.password, tls_context=c.tls_context(),
                                    max_inflight_messages=1000, max_queued_outgoing_messages=100_000)  # fmt: skip
            await client.__aenter__()
            self._client = client
        for reading in readings:
            topic, payload = encode_reading(reading)
            await self._client.publish(topic, payload, qos=1)
        return len(readings)

    def close(self) -> None:
        import asyncio

        async def disconnect() -> None:
            if self._client is not None:
                await self._client.__aexit__(None, None, None)

        asyncio.run_coroutine_threadsafe(disconnect(), self._loop).result(timeout=self.timeout_s)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
