"""The collector's GPU metrics on Prometheus `/metrics`, under dcgm-exporter's names and labels.

`GpuExposition` is both a `Publisher` (the agent hands it every frame, event and
inventory, beside or instead of Kafka) and a prometheus_client `Collector`: a scrape
renders the latest frame as it is, so every value is what NVML reported in that tick, and
nothing is kept per label set. A GPU, pod or job that goes away stops being served at the
next scrape and leaves nothing behind (no Gauge children that grow with label churn).

Labels follow dcgm-exporter's defaults (`gpu`, `UUID`, `pci_bus_id`, `device`,
`modelName`, `Hostname`, `DCGM_FI_DRIVER_VERSION`) so that NVIDIA's dashboard 12239 and a
site's existing queries work unchanged; `job_labels` adds `hpc_job` (or pod labels) where
a mapping is known.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collectors.prometheus.fields import FRAME_METRICS, XID_COUNT_METRIC, XID_METRIC, ExportedMetric
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses
from gpufleet.contract.xids import lookup

# dcgm-exporter's default label names, in its order
BASE_LABELS: tuple[str, ...] = ("gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION")
# per-GPU extra labels (e.g. {"hpc_job": "1234"}), looked up by (node, gpu index) at each scrape
JobLabels = Callable[[str, int], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class _LastXid:
    xid: int
    message: str
    count: int


class GpuExposition(Collector):
    """Latest frame → dcgm-exporter-compatible metric families (see the module docstring)."""

    def __init__(self, job_labels: JobLabels | None = None) -> None:
        self._job_labels = job_labels
        self._lock = threading.Lock()
        self._frame: GpuFrame | None = None
        self._inventory: dict[str, GpuInventory] = {}
        self._xids: dict[str, _LastXid] = {}
        self.scrapes = 0

    def ready(self) -> bool:
        """Whether a frame has arrived (what `/health` reports)."""
        return self._frame is not None

    # ---- Publisher (called from the agent's thread and the XID listener) ------------
    def publish_samples(self, frame: GpuFrame) -> None:
        self._frame = frame  # one reference swap: a scrape sees a whole frame, old or new

    def publish_events(self, events: Sequence[GpuEvent]) -> None:
        with self._lock:
            for event in events:
                if event.kind != "xid" or event.uuid is None or event.xid is None:
                    continue
                previous = self._xids.get(event.uuid)
                count = 1 if previous is None else previous.count + 1
                self._xids[event.uuid] = _LastXid(event.xid, lookup(event.xid).mnemonic, count)

    def publish_inventory(self, inventory: Sequence[GpuInventory]) -> None:
        with self._lock:
            self._inventory = {**self._inventory, **{i.uuid: i for i in inventory}}

    def publish_facility(self, readings: Sequence[FacilitySample]) -> None:
        return None  # facility readings are not GPU metrics

    def publish_processes(self, processes: Sequence[GpuProcesses]) -> None:
        return None  # dcgm-exporter serves no per-process series; processes travel on Kafka

    def publish_instance_activity(self, activity: Sequence[GpuInstanceActivity]) -> None:
        return None  # per-MIG-instance activity travels on Kafka only (not exposed on /metrics yet)

    # ---- Collector (called from the HTTP server's thread) ----------------------------
    def describe(self) -> list[Metric]:
        return []  # no fixed set: the frame decides which metrics exist (registration stays cheap)

    def collect(self) -> Iterator[Metric]:
        frame = self._frame
        self.scrapes += 1
        if frame is None or not len(frame):
            return
        with self._lock:
            inventory = self._inventory
            xids = dict(self._xids)
        rows = self._row_labels(frame, inventory)
        for spec in FRAME_METRICS:
            family = _family(spec, frame, rows)
            if family is not None:
                yield family
        yield from _xid_families(frame, rows, xids)
        stamp = GaugeMetricFamily(
            "gpufleet_collector_sample_timestamp_seconds", "When the served sample was taken (Unix seconds)."
        )
        stamp.add_metric([], float(frame.ts_ms.max()) / 1000.0)
        yield stamp

    def _row_labels(self, frame: GpuFrame, inventory: Mapping[str, GpuInventory]) -> list[dict[str, str]]:
        uuids = frame.label_list("uuid")
        nodes = frame.label_list("node")
        out = []
        for index, uuid, node in zip(frame.gpu_index.tolist(), uuids, nodes, strict=True):
            inv = inventory.get(uuid)
            labels = {
                "gpu": str(index),
                "UUID": uuid,
                "pci_bus_id": (inv.pci_bus_id or "") if inv else "",
                "device": f"nvidia{index}",
                "modelName": inv.model if inv else "",
                "Hostname": node,
                "DCGM_FI_DRIVER_VERSION": (inv.driver_version or "") if inv else "",
            }
            if self._job_labels is not None:
                labels.update(self._job_labels(node, index))
            out.append(labels)
        return out


def _family(spec: ExportedMetric, frame: GpuFrame, rows: list[dict[str, str]]) -> Metric | None:
    got = spec.values(frame)
    if got is None:
        return None
    values, nulls = got
    family = Metric(spec.name, spec.doc, spec.kind)
    # dcgm-exporter's counters carry no `_total` suffix; the sample keeps the bare name
    for labels, value, null in zip(rows, values.tolist(), nulls.tolist(), strict=True):
        if not null:
            family.add_sample(spec.name, labels, value)
    return family


def _xid_families(frame: GpuFrame, rows: list[dict[str, str]], xids: Mapping[str, _LastXid]) -> Iterator[Metric]:
    """The last XID per GPU (dcgm-exporter's gauge, 0 = none yet) and a count of all of them."""
    last = Metric(XID_METRIC, "Value of the last XID error encountered.", "gauge")
    count = Metric(XID_COUNT_METRIC, "XID errors seen by this collector, every repeat counted.", "counter")
    for labels, uuid in zip(rows, frame.label_list("uuid"), strict=True):
        seen = xids.get(uuid)
        code = 0 if seen is None else seen.xid
        last.add_sample(XID_METRIC, {**labels, "err_code": str(code), "err_msg": seen.message if seen else ""}, float(code))
        count.add_sample(f"{XID_COUNT_METRIC}_total", labels, float(0 if seen is None else seen.count))
    yield last
    yield count


def served_metric_names(frame: GpuFrame) -> list[str]:
    """The metric names a scrape of `frame` serves (for docs and tests)."""
    names = [spec.name for spec in FRAME_METRICS if spec.values(frame) is not None]
    return [*names, XID_METRIC, XID_COUNT_METRIC]
