"""The facility path with a broker: `emit --mqtt` (the site's sensors) → Mosquitto →
`bridge mqtt --kafka` → the facility topic → `ingest` → store, beside the GPUs' own rows."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.kafka_helpers import KafkaCluster, cli_env, gpufleet
from tests.support.mosquitto import Mosquitto


def test_emit_mqtt_bridge_kafka_ingest(kafka1: KafkaCluster, tmp_path: Path) -> None:
    mqtt = Mosquitto(tmp_path)
    mqtt.start()
    try:
        env = cli_env(kafka1, GPUFLEET_MQTT__CLIENT_ID=f"bridge-{time.monotonic_ns()}")
        # the bridge's persistent session, registered first: the broker keeps what is published meanwhile
        subprocess.run(["mosquitto_sub", "-p", str(mqtt.port), "-i", env["GPUFLEET_MQTT__CLIENT_ID"], "-c", "-q", "1",
                        "-t", "facility/+/+/+/+", "-W", "1"], capture_output=True, check=False, timeout=10)  # fmt: skip
        emit = gpufleet("emit", "--gpus", "64", "--interval", "0.5", "--duration", "3", "--mqtt", mqtt.url,
                        "--stats-interval", "0", env=env, cwd=tmp_path)  # fmt: skip
        assert emit.wait(60) == 0, emit.stderr()
        bridge = gpufleet("bridge", "mqtt", "--mqtt", mqtt.url, "--kafka", kafka1.bootstrap, "--duration", "5",
                          env=env, cwd=tmp_path)  # fmt: skip
        assert bridge.wait(60) == 0, bridge.stderr()
        bridged = json.loads(bridge.stdout().strip().splitlines()[-1])
        # 1 rack × 6 sensors × 6 ticks
        assert bridged == {"received": 36, "stored": 36, "rejected": 0, "reconnects": 0, "discarded": 0, "dropped": 0}
        data = tmp_path / "data"
        ingest = gpufleet("ingest", "--store", f"chdb://{data}", "--exit-when-idle", "5", "--stats-interval", "0",
                          env=env, cwd=tmp_path)  # fmt: skip
        assert ingest.wait(120) == 0, ingest.stderr()
    finally:
        mqtt.stop()
    counts = run_cli("sql", "--store", f"chdb://{data}", "--format", "json",
                     "SELECT (SELECT count() FROM facility_readings) AS facility, (SELECT count() FROM gpu_samples) AS gpu_rows,"
                     " (SELECT uniqExact(sensor) FROM facility_readings) AS sensors")  # fmt: skip
    assert json.loads(counts.stdout) == [{"facility": 36, "gpu_rows": 64 * 6, "sensors": 6}], counts.stderr
