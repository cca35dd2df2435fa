"""This node's GPUs through NVML, as a `Source`.

`open()` initialises NVML (or fails with `SourceUnavailable("NVML not available: ...")`),
enumerates the GPUs and starts the XID listener. Each `sample()` sweeps every GPU still
answering and returns one frame row per GPU. The tolerance rules (docs/collector.md):

- a read NVML does not support on a GPU is null and is not asked again on that GPU
  until NVML is re-initialised;
- GPU_IS_LOST stops sampling that GPU and emits one `gpu_lost` event; the others go on;
- NO_PERMISSION, TIMEOUT, UNKNOWN null one field for one tick;
- a driver reload (NVML uninitialised under us) is answered by shutdown + init +
  enumerate, inside the same `sample()` when it succeeds, at the next tick otherwise.

The driver's recovery action (field 230) is read every tick (13 µs on an H200,
docs/hardware/nvidia-h200.md) and, where the driver has it, also arrives as an event; a
change seen by either produces one `recovery_action` event with the action's name and the
runbook step (`gpufleet.contract.recovery`). `processes()` lists the compute processes.
On a MIG-enabled GPU with GPM each GPU instance is also sampled (`collectors.nvml.mig`) and
`instance_activity()` reports what the last `sample()` measured per instance.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Mapping

import numpy as np

from collectors.base import EventCallback, SourceConfig
from collectors.nvml.events import WAIT_TIMEOUT_MS, XidListener
from collectors.nvml.inventory import mig_enabled, read_inventory, system_versions
from collectors.nvml.lib import NvmlCallError, NvmlLib, Outcome
from collectors.nvml.mig import close_instances, instance_message, open_instances
from collectors.nvml.refresher import SlowRefresher
from collectors.nvml.sampler import GpuLost, GpuState, NeedsReinit, Sampler
from gpufleet.contract.columns import METRIC_COLUMNS, TOPOLOGY_LABELS
from gpufleet.contract.errors import ConfigError, SourceUnavailable
from gpufleet.contract.frame import Categorical, GpuFrame
from gpufleet.contract.recovery import NONE, recovery_action
from gpufleet.contract.schema import (
    GPU_PROCESSES_SCHEMA,
    GpuEvent,
    GpuInstanceActivity,
    GpuInventory,
    GpuProcess,
    GpuProcesses,
)
from gpufleet.contract.xids import lookup

log = logging.getLogger(__name__)

LABEL_DEFAULT = "unknown"
FI_RECOVERY_ACTION = 230
NO_INSTANCE = 0xFFFFFFFF  # gpuInstanceId / computeInstanceId without MIG
RECOVERY_COLUMN = next(i for i, m in enumerate(METRIC_COLUMNS) if m.name == "recovery_action")


def node_labels(config: SourceConfig) -> dict[str, str]:
    """cluster/hall/row/rack/node for this node: `config.topology`, else the cluster from
    the config, the hostname as node, and "unknown" for the rest."""
    given = dict(config.topology or {})
    unknown = set(given) - set(TOPOLOGY_LABELS)
    if unknown:
        raise ConfigError(f"unknown topology labels {sorted(unknown)!r}: use {', '.join(TOPOLOGY_LABELS)}")
    defaults = {"cluster": config.cluster, "node": socket.gethostname() or LABEL_DEFAULT}
    return {k: given.get(k) or defaults.get(k, LABEL_DEFAULT) for k in TOPOLOGY_LABELS}


class NvmlSource:
    """Samples this node's GPUs through NVML. See the module docstring for the rules."""

    def __init__(
        self, config: SourceConfig, labels: Mapping[str, str] | None = None, event_wait_ms: int = WAIT_TIMEOUT_MS
    ) -> None:
        self.config = config
        self.event_wait_ms = event_wait_ms  # longest XID wait: bounds how long close() takes
        self.labels = dict(labels or node_labels(config))
        self.gpus: list[GpuState] = []
        self.listener: XidListener | None = None
        self.refresher: SlowRefresher | None = None
        self.reinits = 0  # successful re-initialisations (driver reloads survived)
        self._lib: NvmlLib | None = None
        self._sampler: Sampler | None = None
        self._on_event: EventCallback = _drop
        self._seq = 0
        self._needs_reinit = False
        self._versions: tuple[str | None, str | None] = (None, None)
        self._inventory_cache: dict[str, GpuInventory] = {}
        self._reported_lost: set[str] = set()  # uuids whose loss was already reported
        self._recovery_lock = threading.Lock()  # the tick and the event thread both see changes

    # ---- Source protocol -----------------------------------------------------------
    def open(self, on_event: EventCallback) -> None:
        self._on_event = on_event
        self._lib = NvmlLib(self.config.nvml_module)
        self._lib.init()
        try:
            self._start()
        except NvmlCallError as e:
            self.close()
            raise SourceUnavailable(f"NVML not available: {e}") from e
        if not self.gpus:
            self.close()
            raise SourceUnavailable("NVML not available: no NVIDIA GPUs found (nvmlDeviceGetCount returned 0)")

    def inventory(self) -> list[GpuInventory]:
        lib = self._require_lib()
        ts_ms = time.time_ns() // 1_000_000
        out = []
        for gpu in self.gpus:
            cached = self._inventory_cache.get(gpu.uuid)
            if not gpu.lost:
                try:
                    cached = read_inventory(lib, gpu, self.labels, ts_ms, self._versions)
                    self._inventory_cache[gpu.uuid] = cached
                except NvmlCallError as e:
                    self._handle_fatal(gpu, e, ts_ms)
            if cached is not None:  # a lost GPU keeps its last known identity
                out.append(cached)
        return out

    def sample(self, ts_ms: int) -> GpuFrame:
        if (self._needs_reinit or (self.listener is not None and self.listener.needs_reinit)) and not self._reinit():
            return self._frame(ts_ms, [], [])
        try:
            gpus, rows = self._sweep(ts_ms)
        except NeedsReinit as e:
            log.warning("NVML needs re-init (%s); re-initialising", e)
            if not self._reinit():
                return self._frame(ts_ms, [], [])
            try:
                gpus, rows = self._sweep(ts_ms)
            except NeedsReinit:
                self._needs_reinit = True
                return self._frame(ts_ms, [], [])
        return self._frame(ts_ms, gpus, rows)

    def processes(self, ts_ms: int) -> list[GpuProcesses]:
        """`nvmlDeviceGetComputeRunningProcesses_v3` on every GPU still answering."""
        lib = self._require_lib()
        asked: list[int] = []
        procs: list[GpuProcess] = []
        for gpu in self.gpus:
            if gpu.lost:
                continue
            try:
                running = lib.call("nvmlDeviceGetComputeRunningProcesses_v3", gpu.handle)
            except NvmlCallError as e:
                if e.outcome in (Outcome.LOST, Outcome.REINIT):
                    self._handle_fatal(gpu, e, ts_ms)
                continue  # unsupported or transient: this GPU is left out of `gpus`
            asked.append(gpu.index)
            procs += [_process(gpu, p) for p in running]
        message = GpuProcesses.model_validate(
            {**self.labels, "schema": GPU_PROCESSES_SCHEMA, "ts_ms": ts_ms, "gpus": asked, "processes": procs}
        )
        return [message]

    def instance_activity(self, ts_ms: int) -> list[GpuInstanceActivity]:
        """The GPM activity of each MIG GPU instance as the last `sample()` read it: one
        message for the node, none when no GPU answering is in MIG mode with GPM."""
        message = instance_message(self.labels, ts_ms, [(g.index, g.uuid, g.instances) for g in self.gpus if not g.lost])
        return [] if message is None else [message]

    def close(self) -> None:
        self._stop_threads()
        self._close_gpm()
        if self._lib is not None:
            self._lib.shutdown()
        self._on_event = _drop

    # ---- internals -----------------------------------------------------------------
    def _open_gpm(self) -> None:
        sampler = self._sampler
        assert sampler is not None
        for gpu in self.gpus:
            if gpu.lost:
                continue
            try:
                gpu.gpm = sampler.gpm.open(gpu.handle)
                if gpu.mig and gpu.gpm is not None:
                    gpu.instances = open_instances(sampler.lib, sampler.gpm, gpu.handle)
            except NvmlCallError as e:
                self._handle_fatal(gpu, e, time.time_ns() // 1_000_000)

    def _close_gpm(self) -> None:
        if self._sampler is None or self._lib is None or not self._lib.initialised:
            return
        for gpu in self.gpus:
            if gpu.gpm is not None:
                self._sampler.gpm.close(gpu.gpm)
                gpu.gpm = None
            close_instances(self._sampler.gpm, gpu.instances)
            gpu.instances = []

    def _stop_threads(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        if self.refresher is not None:
            self.refresher.stop()
            self.refresher = None

    def _require_lib(self) -> NvmlLib:
        if self._lib is None or self._sampler is None:
            raise RuntimeError("NvmlSource.open() must be called first")
        return self._lib

    def _start(self) -> None:
        """Enumerate GPUs and start the XID listener on a freshly initialised NVML."""
        lib = self._lib
        assert lib is not None
        self._sampler = Sampler(lib)
        self._versions = system_versions(lib)
        self.gpus = self._enumerate(lib)
        self._open_gpm()
        self.listener = XidListener(lib, self.gpus, self._xid, self.event_wait_ms, on_recovery=self._recovery_event)
        self.listener.start()
        # one synchronous sweep, so the first sample already has the slow columns
        self.refresher = SlowRefresher(self._sampler, self.gpus, self.config.interval_s)
        self.refresher.refresh()
        self.refresher.start()

    def _enumerate(self, lib: NvmlLib) -> list[GpuState]:
        previous = {g.index: g for g in self.gpus}
        gpus = []
        for index in range(int(lib.call("nvmlDeviceGetCount"))):
            try:
                handle = lib.call("nvmlDeviceGetHandleByIndex", index)
                uuid = str(lib.call("nvmlDeviceGetUUID", handle))
                gpus.append(GpuState(index, handle, uuid, mig=bool(mig_enabled(lib, handle))))
            except NvmlCallError as e:
                if e.outcome is not Outcome.LOST:
                    raise
                old = previous.get(index)
                state = GpuState(index, None, old.uuid if old else f"gpu-{index}-unknown", lost=True)
                self._emit_lost(state, e, time.time_ns() // 1_000_000)
                gpus.append(state)
        return gpus

    def _sweep(self, ts_ms: int) -> tuple[list[GpuState], list[list[int | None]]]:
        sampler = self._sampler
        assert sampler is not None
        gpus, rows = [], []
        for gpu in self.gpus:
            if gpu.lost:
                continue
            try:
                row = sampler.read(gpu)
            except GpuLost as e:
                gpu.lost = True
                self._emit_lost(gpu, e.cause, ts_ms)
                continue
            rows.append(row)
            gpus.append(gpu)
            self._recovery_seen(gpu, row[RECOVERY_COLUMN], ts_ms)
        if self._reported_lost:  # a GPU that answers again after a re-init may be lost again later
            self._reported_lost.difference_update(g.uuid for g in gpus)
        return gpus, rows

    def _reinit(self) -> bool:
        """Shut NVML down and bring it up again (after a driver reload)."""
        lib = self._lib
        assert lib is not None
        self._stop_threads()
        self._close_gpm()  # the driver may be gone: each free fails and is logged at debug
        lib.shutdown()
        try:
            lib.init()
            self._start()
        except (SourceUnavailable, NvmlCallError) as e:
            log.warning("NVML re-init failed, will retry next tick: %s", e)
            self._needs_reinit = True
            lib.shutdown()
            return False
        self._needs_reinit = False
        self.reinits += 1
        log.warning("NVML re-initialised: %d GPUs", len(self.gpus))
        return True

    def _handle_fatal(self, gpu: GpuState, error: NvmlCallError, ts_ms: int) -> None:
        if error.outcome is Outcome.LOST:
            gpu.lost = True
            self._emit_lost(gpu, error, ts_ms)
        else:
            self._needs_reinit = True

    def _xid(self, gpu: GpuState | None, xid: int, ts_ms: int) -> None:
        info = lookup(xid)
        self._on_event(self._event(gpu, ts_ms, kind="xid", xid=xid, severity=info.severity, detail=info.describe()))

    def _recovery_event(self, gpu: GpuState, ts_ms: int) -> None:
        """The driver signalled a recovery-action change: read what it now asks for."""
        lib = self._lib
        if lib is None or gpu.lost:
            return
        try:
            [(ret, value)] = lib.field_values(gpu.handle, [FI_RECOVERY_ACTION])
        except NvmlCallError as e:
            log.warning("gpu %d: recovery-action event, but field 230 failed: %s", gpu.index, e)
            return
        if ret == 0:
            self._recovery_seen(gpu, value, ts_ms)

    def _recovery_seen(self, gpu: GpuState, action: int | None, ts_ms: int) -> None:
        """One event per change; the first reading reports only an action other than NONE."""
        if action is None:
            return
        with self._recovery_lock:
            previous, gpu.recovery_action = gpu.recovery_action, action
        if action == previous or (previous is None and action == NONE):
            return
        now, before = recovery_action(action), (recovery_action(previous).name if previous is not None else "unknown")
        detail = f"{now.describe()} (was {before})"
        self._on_event(
            self._event(gpu, ts_ms, kind="recovery_action", recovery_action=action, severity=now.severity, detail=detail)
        )

    def _emit_lost(self, gpu: GpuState, error: NvmlCallError, ts_ms: int) -> None:
        if gpu.uuid in self._reported_lost:  # still lost after a re-init: already reported
            return
        self._reported_lost.add(gpu.uuid)
        detail = f"{error}; stopped sampling this GPU until NVML re-initialises; action: RESTART_BM (reboot the node)"
        self._on_event(self._event(gpu, ts_ms, kind="gpu_lost", severity="critical", detail=detail))

    def _event(self, gpu: GpuState | None, ts_ms: int, **fields: object) -> GpuEvent:
        return GpuEvent.model_validate(
            {
                **self.labels,
                "ts_ms": ts_ms,
                "gpu_index": None if gpu is None else gpu.index,
                "uuid": None if gpu is None else gpu.uuid,
                **fields,
            }
        )

    def _frame(self, ts_ms: int, gpus: list[GpuState], rows: list[list[int | None]]) -> GpuFrame:
        n = len(rows)
        seq = self._seq
        self._seq += 1
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in METRIC_COLUMNS]
        metrics: dict[str, np.ndarray] = {}
        nulls: dict[str, np.ndarray] = {}
        for m, values in zip(METRIC_COLUMNS, columns, strict=True):
            if None in values:
                nulls[m.name] = np.fromiter((v is None for v in values), dtype=np.bool_, count=n)
                metrics[m.name] = np.array([0 if v is None else v for v in values], dtype=m.dtype)
            else:
                metrics[m.name] = np.array(values, dtype=m.dtype)
        zeros = np.zeros(n, dtype=np.uint32)
        labels = {k: Categorical(zeros, [self.labels[k]]) for k in TOPOLOGY_LABELS}
        labels["uuid"] = Categorical(np.arange(n, dtype=np.uint32), [g.uuid for g in gpus])
        return GpuFrame(
            ts_ms=np.full(n, ts_ms, dtype=np.int64),
            seq=np.full(n, seq, dtype=np.uint64),
            gpu_index=np.array([g.index for g in gpus], dtype=np.uint8),
            labels=labels,
            metrics=metrics,
            nulls=nulls,
        )


def _process(gpu: GpuState, info: object) -> GpuProcess:
    used = getattr(info, "usedGpuMemory", None)
    gi, ci = getattr(info, "gpuInstanceId", NO_INSTANCE), getattr(info, "computeInstanceId", NO_INSTANCE)
    return GpuProcess(
        gpu_index=gpu.index,
        uuid=gpu.uuid,
        pid=int(getattr(info, "pid", 0)),
        used_mem_mib=None if used is None else int(used) >> 20,
        gpu_instance_id=None if gi in (None, NO_INSTANCE) else int(gi),
        compute_instance_id=None if ci in (None, NO_INSTANCE) else int(ci),
    )


def _drop(_: GpuEvent) -> None:
    return None


def create(config: SourceConfig) -> NvmlSource:
    """The `nvml` source factory (see `collectors.base.SOURCES`)."""
    return NvmlSource(config)
