"""XIDs as they happen: a thread blocked in `nvmlEventSetWait`, one event per XID.

The same thread receives the driver's recovery-action events (0x8000), where the driver
has them, and hands them to `on_recovery`, which reads the action (field 230).

dcgm-exporter exposes the last XID as a gauge, which hides repeats and never resets
(its issues #190, #500). Here every critical-XID event NVML delivers becomes its own
`GpuEvent`, handed to the agent's callback from this thread the moment it arrives, with
the catalog's meaning, severity and recommended action (`gpufleet.contract.xids`). The wait has a
bounded timeout so `stop()` returns within about one timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from collectors.nvml.lib import ERROR_TIMEOUT, NvmlCallError, NvmlLib, Outcome, handle_key
from collectors.nvml.sampler import GpuState

log = logging.getLogger(__name__)

EVENT_TYPE_XID_CRITICAL_ERROR = 0x8  # nvmlEventTypeXidCriticalError
EVENT_TYPE_GPU_RECOVERY_ACTION = 0x8000  # nvmlEventTypeGpuRecoveryAction (driver r570+)
WAIT_TIMEOUT_MS = 200

XidHandler = Callable[[GpuState | None, int, int], None]  # (gpu, xid, ts_ms)
RecoveryHandler = Callable[[GpuState, int], None]  # (gpu, ts_ms): the driver changed its recovery action


class XidListener:
    """Registers every GPU for XID events and waits for them on a daemon thread.

    Args:
        lib: an initialised NVML.
        gpus: the GPUs to listen to (lost ones are skipped).
        on_xid: called from the listener thread with (gpu or None if unknown, xid, ts_ms).
        timeout_ms: longest single wait; bounds how long `stop()` takes.
    """

    def __init__(
        self,
        lib: NvmlLib,
        gpus: Sequence[GpuState],
        on_xid: XidHandler,
        timeout_ms: int = WAIT_TIMEOUT_MS,
        on_recovery: RecoveryHandler | None = None,
    ) -> None:
        self.lib = lib
        self.on_xid = on_xid
        self.on_recovery = on_recovery
        self.timeout_ms = timeout_ms
        self.needs_reinit = False  # set when the wait says NVML lost its driver
        self.registered: list[int] = []  # gpu indexes listening for XIDs
        self._by_handle: dict[int, GpuState] = {}
        self._gpus = [g for g in gpus if not g.lost]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._event_set: Any = None

    def start(self) -> None:
        """Create the event set, register the GPUs that support XID events, start waiting.

        A GPU whose driver cannot deliver XID events is logged and skipped: samples still
        flow, and the missing registration is visible in `registered`.
        """
        try:
            self._event_set = self.lib.call("nvmlEventSetCreate")
        except NvmlCallError as e:
            log.warning("XID events unavailable: %s", e)
            return
        for gpu in self._gpus:
            if self._register(gpu):
                self.registered.append(gpu.index)
                self._by_handle[handle_key(gpu.handle)] = gpu
        if not self.registered:
            self._free()
            return
        self._thread = threading.Thread(target=self._run, name="nvml-xid-events", daemon=True)
        self._thread.start()

    def _register(self, gpu: GpuState) -> bool:
        try:
            supported = int(self.lib.call("nvmlDeviceGetSupportedEventTypes", gpu.handle))
            if not supported & EVENT_TYPE_XID_CRITICAL_ERROR:
                log.warning("gpu %d does not report XID events", gpu.index)
                return False
            # the recovery action beside XIDs where the driver has it (r570+); older ones
            # still get changes from the field read each tick
            wanted = EVENT_TYPE_XID_CRITICAL_ERROR
            if self.on_recovery is not None:
                wanted |= supported & EVENT_TYPE_GPU_RECOVERY_ACTION
            self.lib.call("nvmlDeviceRegisterEvents", gpu.handle, wanted, self._event_set)
        except NvmlCallError as e:
            log.warning("gpu %d: cannot register for XID events: %s", gpu.index, e)
            return False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.lib.call("nvmlEventSetWait", self._event_set, self.timeout_ms)
            except NvmlCallError as e:
                if e.code == ERROR_TIMEOUT:
                    continue
                if e.outcome is Outcome.REINIT:
                    log.warning("XID listener stopping, NVML needs re-init: %s", e)
                    self.needs_reinit = True
                    return
                # e.g. GPU_IS_LOST on one device: keep listening to the others, without spinning
                log.warning("nvmlEventSetWait failed: %s", e)
                self._stop.wait(self.timeout_ms / 1000.0)
                continue
            self._deliver(data)

    def _deliver(self, data: Any) -> None:
        kind = int(data.eventType)
        ts_ms = time.time_ns() // 1_000_000
        gpu = self._by_handle.get(handle_key(data.device))
        try:
            if kind & EVENT_TYPE_XID_CRITICAL_ERROR:
                self.on_xid(gpu, int(data.eventData), ts_ms)
            elif kind & EVENT_TYPE_GPU_RECOVERY_ACTION and gpu is not None and self.on_recovery is not None:
                # eventData is 0 for non-XID events (nvml.h): the action itself is field 230
                self.on_recovery(gpu, ts_ms)
        except Exception:  # a failing callback must not end event delivery for the node
            log.exception("NVML event callback failed")

    def stop(self) -> None:
        """Stop waiting and free the event set; safe to call more than once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * self.timeout_ms / 1000.0 + 1.0)
            self._thread = None
        self._free()

    def _free(self) -> None:
        if self._event_set is not None:
            try:
                self.lib.call("nvmlEventSetFree", self._event_set)
            except NvmlCallError as e:
                log.debug("nvmlEventSetFree failed: %s", e)
            self._event_set = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
