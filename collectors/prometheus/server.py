"""`/metrics` in Prometheus text format 0.0.4, written the way dcgm-exporter writes it.

prometheus_client's own writer renames every counter's TYPE line to `<name>_total`;
dcgm-exporter's counters (`DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`, ...) have no such
suffix, and a scrape must look like dcgm-exporter's to be a drop-in. So families come
from prometheus_client collectors (its types and registry), and this module writes them:
a family's TYPE line carries the family name when its samples do, `_total` otherwise.
The server is a small threading `http.server` on a daemon thread: `/metrics` and
`/health` (200 once a frame is served, 503 before: a readiness probe can use either).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.core import Metric
from prometheus_client.registry import CollectorRegistry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_TYPE_NAMES = {"counter": "counter", "gauge": "gauge", "histogram": "histogram", "summary": "summary"}


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _number(value: float) -> str:
    # integers as integers, exactly (a uint64 counter below 2**53 reads back unchanged)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def render(families: Iterable[Metric]) -> bytes:
    """Families as text exposition 0.0.4 (see the module docstring for counter names)."""
    out: list[str] = []
    for family in families:
        if not family.samples:
            continue
        name = family.name
        if family.type == "counter" and all(s.name != name for s in family.samples):
            name = f"{name}_total"
        out.append(f"# HELP {name} {_escape_help(family.documentation)}\n")
        out.append(f"# TYPE {name} {_TYPE_NAMES.get(family.type, 'untyped')}\n")
        for sample in family.samples:
            if sample.name.endswith("_created"):  # prometheus_client's creation stamps: noise here
                continue
            labels = ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in sample.labels.items())
            text = f"{sample.name}{{{labels}}}" if labels else sample.name
            out.append(f"{text} {_number(float(sample.value))}\n")
    return "".join(out).encode("utf-8")


class MetricsServer:
    """Serves `registry` on `host:port` until `close()`; `port` 0 picks a free one."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str = "0.0.0.0", ready: Callable[[], bool] | None = None):
        registry_ = registry
        ready_ = ready or (lambda: True)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, render(registry_.collect()), CONTENT_TYPE)
                elif path == "/health":
                    ok = ready_()
                    self._reply(200 if ok else 503, b"ok\n" if ok else b"no sample yet\n", "text/plain")
                else:
                    self._reply(404, b"see /metrics\n", "text/plain")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None  # one line per scrape would be the loudest log on the node

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
