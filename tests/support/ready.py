"""Start a test server: find its Debian binary, then wait until it answers (one loop for all)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest


def installed(name: str, fallback: str) -> str:
    """The path of the `name` binary (the Debian package of that name); a missing one fails
    the test with the install hint: these tests talk to the real thing, in CI as here."""
    binary = shutil.which(name) or fallback
    if not Path(binary).exists():
        pytest.fail(f"{name} not installed: run `make test` (scripts/install-test-services) or apt-get install {name}")
    return binary


def wait_ready(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str], ready: Callable[[], bool], timeout_s: float, poll_s: float
) -> bool:
    """True once `ready()` holds (an OSError counts as not yet); False when `proc` exits or
    `timeout_s` passes first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if ready():
                return True
        except OSError:
            pass
        time.sleep(poll_s)
    return False


def http_ok(url: str) -> Callable[[], bool]:
    """A `ready` check: `url` answers 200."""

    def check() -> bool:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)

    return check


def port_open(port: int) -> Callable[[], bool]:
    """A `ready` check: something accepts TCP connections on loopback `port`."""

    def check() -> bool:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True

    return check


class LoopbackServer:
    """A Debian-packaged server on a loopback port, its output in `<name>.log` of its workdir."""

    def __init__(self, name: str, fallback: str, workdir: Path, port: int) -> None:
        self.name = name
        self.binary = installed(name, fallback)
        self.port = port
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self, args: list[str], ready: Callable[[], bool], timeout_s: float, poll_s: float) -> None:
        """Start `binary args`; RuntimeError with the log's tail unless `ready` holds in time."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([self.binary, *args], stdout=log, stderr=log)
        if not wait_ready(self.proc, ready, timeout_s, poll_s):
            raise RuntimeError(f"{self.name} did not become ready on port {self.port}: {self.log.read_text()[-800:]}")

    def stop(self, timeout_s: float = 20) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=timeout_s)
        self.proc = None
