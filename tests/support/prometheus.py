"""A real Prometheus server for tests, scraping given targets from a free loopback port.

Debian's `prometheus` package provides the binary (`make test` installs it through
scripts/install-test-services). A missing binary fails the test with the install hint:
exposition tests must talk to the real thing, in CI as here.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.mosquitto import free_port
from tests.support.ready import LoopbackServer, http_ok


class Prometheus(LoopbackServer):
    def __init__(self, workdir: Path, targets: list[str], scrape_interval_s: float = 1.0) -> None:
        super().__init__("prometheus", "/usr/bin/prometheus", workdir, free_port())
        self.workdir = workdir
        self.config = workdir / "prometheus.yml"
        interval = f"{max(1, round(scrape_interval_s * 1000))}ms"
        target_list = ", ".join(f'"{t}"' for t in targets)
        self.config.write_text(
            "global:\n"
            f"  scrape_interval: {interval}\n"
            f"  scrape_timeout: {interval}\n"
            "scrape_configs:\n"
            "  - job_name: gpufleet-collector\n"
            f"    static_configs: [{{targets: [{target_list}]}}]\n"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.launch(args, http_ok(f"{self.url}/-/ready"), timeout_s=60, poll_s=0.2)

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus {path} failed: {body}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector `promql` evaluates to now."""
        data = self.api("query", query=promql)
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for(self, promql: str, series: int, timeout_s: float = 60) -> list[dict[str, Any]]:
        """Poll until `promql` returns at least `series` series (a scrape has landed)."""
        deadline = time.monotonic() + timeout_s
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(promql)
            if len(result) >= series:
                return result
            time.sleep(0.5)
        targets = self.api("targets")
        raise AssertionError(f"{promql!r}: {len(result)} series after {timeout_s}s, wanted {series}; targets: {targets}")
