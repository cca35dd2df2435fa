"""A transport that writes wire messages as JSON lines to a text stream.

`gpufleet collect` without a broker uses it: one `NodeSample` per node and tick, events
and inventory as they come, each line a complete message of the wire schema.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TextIO

from pydantic import BaseModel

from gpufleet.contract.frame import GpuFrame, node_samples_from_frame
from gpufleet.contract.jobs import JobAssignment
from gpufleet.contract.schema import FacilitySample, GpuEvent, GpuInstanceActivity, GpuInventory, GpuProcesses


class JsonLinesTransport:
    """Publishes to `stream`; each kind of message can be switched off."""

    def __init__(
        self,
        stream: TextIO,
        *,
        samples: bool = True,
        events: bool = True,
        inventory: bool = True,
        facility: bool = True,
        jobs: bool = True,
        processes: bool = True,
        instance_activity: bool = True,
    ) -> None:
        self.stream = stream
        self._kinds = {
            "samples": samples, "events": events, "inventory": inventory, "facility": facility, "jobs": jobs,
            "processes": processes, "instance_activity": instance_activity,
        }  # fmt: skip
        self._lock = threading.Lock()  # events arrive from the source's thread

    def _write(self, lines: list[str]) -> None:
        if lines:
            with self._lock:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()

    def publish_samples(self, frame: GpuFrame) -> None:
        if self._kinds["samples"]:
            self._write([m.model_dump_json() for m in node_samples_from_frame(frame)])

    def publish_events(self, events: Sequence[GpuEvent]) -> None:
        self._write_kind("events", events)

    def publish_inventory(self, inventory: Sequence[GpuInventory]) -> None:
        self._write_kind("inventory", inventory)

    def publish_facility(self, readings: Sequence[FacilitySample]) -> None:
        self._write_kind("facility", readings)

    def publish_jobs(self, jobs: Sequence[JobAssignment]) -> None:
        self._write_kind("jobs", jobs)

    def publish_processes(self, processes: Sequence[GpuProcesses]) -> None:
        self._write_kind("processes", processes)

    def publish_instance_activity(self, activity: Sequence[GpuInstanceActivity]) -> None:
        self._write_kind("instance_activity", activity)

    def _write_kind(self, kind: str, messages: Sequence[BaseModel]) -> None:
        if self._kinds[kind]:
            self._write([m.model_dump_json() for m in messages])

    def flush(self, timeout_s: float) -> None:
        with self._lock:
            self.stream.flush()

    def close(self) -> None:
        self.flush(0)
