"""A real Mosquitto broker for tests, started on a free loopback port.

Debian's `mosquitto` package provides the binary (`make test` installs it through
scripts/install-test-services). A missing binary fails the test, with the install hint.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.support.ready import LoopbackServer, port_open


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto(LoopbackServer):
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__("mosquitto", "/usr/sbin/mosquitto", workdir, port or free_port())
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.launch(["-c", str(self.config)], port_open(self.port), timeout_s=10, poll_s=0.05)

    def stop(self, timeout_s: float = 10) -> None:
        super().stop(timeout_s)

    def publish(self, topic: str, payload: str, qos: int = 1) -> None:
        """Publish with Debian's mosquitto_pub, as a site's own equipment would."""
        subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", str(qos), "-t", topic, "-m", payload],
            check=True,
            timeout=10,
        )
