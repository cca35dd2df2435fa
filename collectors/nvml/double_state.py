"""State and test controls of the NVML double (see `collectors.nvml.double`)."""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from collectors.nvml import double_abi
from collectors.nvml.double_abi import (
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_INVALID_ARGUMENT,
    NVML_ERROR_NOT_SUPPORTED,
    NVML_ERROR_UNINITIALIZED,
    NVML_VALUE_TYPE_UNSIGNED_INT,
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG,
    NVMLError,
    nvmlEventTypeClock,
    nvmlEventTypeDoubleBitEccError,
    nvmlEventTypePState,
    nvmlEventTypeSingleBitEccError,
    nvmlEventTypeXidCriticalError,
    struct_c_nvmlDevice_t,
)
from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.scenario import load_scenario

EVENT_RECOVERY_ACTION = 0x8000  # nvmlEventTypeGpuRecoveryAction

MIB = 1 << 20
ALL_LINKS = 0xFFFFFFFF
NVLINKS = 18
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: a fixed clock keeps the model deterministic
UI, ULL = NVML_VALUE_TYPE_UNSIGNED_INT, NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
# field id -> fleet column, by the value type NVML answers it with; None column = always 0
# (the fleet sums CRC errors in 38)
_UI_FIELDS: dict[int, str | None] = {
    185: "power_mw",
    186: "power_instant_mw",
    82: "mem_temp_c",
    94: "pcie_replay_count",
    230: "recovery_action",
}
_ULL_FIELDS: dict[int, str | None] = {
    83: "energy_mj",
    3: "ecc_corrected_count",
    4: "ecc_uncorrected_count",
    138: "nvlink_tx_kib",
    139: "nvlink_rx_kib",
    38: "nvlink_crc_errors",
    45: None,
    52: "nvlink_replay_errors",
    59: "nvlink_recovery_errors",
    142: "remapped_rows_correctable",
    143: "remapped_rows_uncorrectable",
    144: "remap_pending",
    145: "remap_failure",
}
FIELDS: dict[int, tuple[int, str | None]] = {
    **{fid: (UI, column) for fid, column in _UI_FIELDS.items()},
    **{fid: (ULL, column) for fid, column in _ULL_FIELDS.items()},
}
# NVML answers neither on a MIG-enabled GPU (utilization; row remapping with active instances)
MIG_UNSUPPORTED: frozenset[int | str] = frozenset(
    {142, 143, 144, 145, "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetRemappedRows"}
)
EVENT_TYPES = (
    nvmlEventTypeSingleBitEccError
    | nvmlEventTypeDoubleBitEccError
    | nvmlEventTypePState
    | nvmlEventTypeXidCriticalError
    | nvmlEventTypeClock
    | EVENT_RECOVERY_ACTION
)
Key = int | str  # a field id or a function name


@dataclass(slots=True)
class _Instance:
    """A MIG GPU instance of a double device: its GPM figures are the device's times `share`."""

    gpu_instance_id: int
    profile_id: int  # NVML_GPU_INSTANCE_PROFILE_*
    slices: int
    share: float
    struct: Any = None  # the instance's MIG device handle (one compute instance covering it)
    handle: Any = None


# Each MIG GPU of the double holds two GPU instances (ids 1 and 2): 4 and 3 of its 7 slices
# (NVML_GPU_INSTANCE_PROFILE_4_SLICE = 3, _3_SLICE = 2), the second doing half the work.
MIG_LAYOUT: tuple[tuple[int, int, int, float], ...] = ((1, 3, 4, 1.0), (2, 2, 3, 0.5))


@dataclass(slots=True)
class _Device:
    index: int
    uuid: str
    inventory: dict[str, Any]
    mig: bool = False
    lost: bool = False
    struct: Any = None
    handle: Any = None
    values: dict[str, int] = field(default_factory=dict)
    recovery_action: int | None = None  # set by a test: field 230 answers this, not the fleet's
    instances: list[_Instance] = field(default_factory=list)  # MIG GPU instances (MIG mode only)


@dataclass(slots=True)
class _EventSet:
    struct: Any
    handle: Any
    generation: int
    devices: dict[int, int] = field(default_factory=dict)  # gpu -> registered event types
    queue: deque[tuple[int, int, int]] = field(default_factory=deque)  # (gpu, event type, event data)


class DoubleState:
    """Everything the double knows: the fleet, devices, failures to inject, call counts."""

    def __init__(
        self,
        gpus: int = 8,
        seed: int = 0,
        mig: Iterable[int] = (),
        unsupported: Iterable[tuple[int | None, Key]] = (),
        xids: Iterable[tuple[int, int]] = (),
        recovery: Iterable[tuple[int, int]] = (),
        stall: Iterable[int] = (),
        fail_init: int | None = None,
        auto_advance_s: float | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.fleet = SyntheticFleet(n_gpus=gpus, seed=seed, scenario=load_scenario("none"), start_ms=START_MS)
        labels = self.fleet.topology.labels["uuid"]
        self.devices = [
            _Device(i, labels.values[labels.codes[i]], inv.model_dump(), mig=i in set(mig))
            for i, inv in enumerate(self.fleet.inventory())
        ]
        for dev in self.devices:
            if dev.mig:
                dev.instances = [_Instance(*layout) for layout in MIG_LAYOUT]
        self.refcount = 0
        self.generation = 0
        self.init_error = fail_init
        self.auto_advance_s = auto_advance_s
        self.unsupported: set[tuple[int | None, Key]] = set(unsupported)
        self.failures: dict[tuple[int, Key], deque[int]] = {}
        self.calls: Counter[tuple[int, Key]] = Counter()
        self.event_sets: dict[int, _EventSet] = {}
        self.pending_events: list[tuple[int, int, int]] = [(g, nvmlEventTypeXidCriticalError, x) for g, x in xids]
        for gpu, action in recovery:
            self.devices[gpu].recovery_action = action
            self.pending_events.append((gpu, EVENT_RECOVERY_ACTION, 0))
        self.by_addr: dict[int, _Device] = {}
        self.mig_by_addr: dict[int, tuple[_Device, _Instance]] = {}  # MIG device handles
        self.last_frame: Any = None
        self._next_advance = 0.0
        if stalled := tuple(stall):
            self.fleet.start_fault("stall", stalled)
        self._new_handles()
        self.advance()

    def _new_handles(self) -> None:
        # new handle objects per driver generation, as a reloaded driver hands out new ones
        self.by_addr, self.mig_by_addr = {}, {}
        for dev in self.devices:
            dev.struct = struct_c_nvmlDevice_t(dev.index)
            dev.handle = ctypes.pointer(dev.struct)
            self.by_addr[ctypes.addressof(dev.struct)] = dev
            for inst in dev.instances:
                inst.struct = struct_c_nvmlDevice_t(1000 * (dev.index + 1) + inst.gpu_instance_id)
                inst.handle = ctypes.pointer(inst.struct)
                self.mig_by_addr[ctypes.addressof(inst.struct)] = (dev, inst)

    def advance(self) -> Any:
        """One fleet tick; the devices answer with its values until the next one."""
        with self.lock:
            frame, _ = self.fleet.tick()
            rows = {int(g): r for r, g in enumerate(frame.gpu_index.tolist())}
            columns = {name: values.tolist() for name, values in frame.metrics.items()}
            for dev in self.devices:
                r = rows.get(dev.index)
                if r is not None:
                    dev.values = {name: int(v[r]) for name, v in columns.items()}
                    if dev.recovery_action is not None:
                        dev.values["recovery_action"] = dev.recovery_action
            self.last_frame = frame
            self._next_advance = time.monotonic() + (self.auto_advance_s or 0.0)
            return frame

    # ---- checks shared by every call -------------------------------------------------
    def check_init(self) -> None:
        if self.refcount <= 0:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)

    def device(self, handle: Any, key: Key) -> _Device:
        """The device behind `handle`, after the failures a test asked for."""
        self.check_init()
        if self.auto_advance_s is not None and time.monotonic() >= self._next_advance:
            self.advance()
        dev = self.by_addr.get(ctypes.addressof(handle.contents))
        if dev is None:  # a handle from before a driver reload
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        self.calls[(dev.index, key)] += 1
        if dev.lost:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        code = self.code_for(dev, key)
        if code:
            raise NVMLError(code)
        return dev

    def mig_device(self, handle: Any, key: Key) -> tuple[_Device, _Instance]:
        """The MIG device behind `handle` (its parent and instance), after the parent's failures."""
        self.check_init()
        found = self.mig_by_addr.get(ctypes.addressof(handle.contents))
        if found is None:  # a full-GPU handle, or one from before a driver reload
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        self.device(found[0].handle, key)
        return found

    def code_for(self, dev: _Device, key: Key) -> int:
        """The error this (device, function or field) should answer with, or 0."""
        queued = self.failures.get((dev.index, key))
        if queued:
            return queued.popleft()
        if (dev.index, key) in self.unsupported or (None, key) in self.unsupported:
            return NVML_ERROR_NOT_SUPPORTED
        if dev.mig and key in MIG_UNSUPPORTED:
            return NVML_ERROR_NOT_SUPPORTED
        return 0

    def event_set(self, handle: Any) -> _EventSet:
        es = self.event_sets.get(ctypes.addressof(handle.contents))
        if es is None:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return es


_STATE: DoubleState | None = None
_STATE_LOCK = threading.Lock()


def state() -> DoubleState:
    """The double's state, configured from the environment on first use."""
    global _STATE
    with _STATE_LOCK:
        if _STATE is None:
            _STATE = DoubleState(**_env_config(os.environ), auto_advance_s=1.0)
        return _STATE


def _env_config(env: os._Environ[str] | dict[str, str]) -> dict[str, Any]:
    def pairs(name: str) -> list[tuple[str, str]]:
        text = env.get(name, "").strip()
        return [tuple(p.split(":", 1)) for p in text.split(",") if p.strip()]  # type: ignore[misc]

    fail = env.get("GPUFLEET_NVML_DOUBLE_FAIL_INIT", "").strip()
    mig = env.get("GPUFLEET_NVML_DOUBLE_MIG", "").strip()
    stall = env.get("GPUFLEET_NVML_DOUBLE_STALL", "").strip()
    return {
        "gpus": int(env.get("GPUFLEET_NVML_DOUBLE_GPUS", "8")),
        "seed": int(env.get("GPUFLEET_NVML_DOUBLE_SEED", "0")),
        "mig": [int(x) for x in mig.split(",") if x.strip()],
        "stall": [int(x) for x in stall.split(",") if x.strip()],
        "unsupported": [(None if g == "*" else int(g), _key(k)) for g, k in pairs("GPUFLEET_NVML_DOUBLE_UNSUPPORTED")],
        "xids": [(int(g), int(x)) for g, x in pairs("GPUFLEET_NVML_DOUBLE_XIDS")],
        "recovery": [(int(g), int(a)) for g, a in pairs("GPUFLEET_NVML_DOUBLE_RECOVERY")],
        "fail_init": (_error_code(fail) if fail else None),
    }


def _key(text: str) -> Key:
    return int(text) if text.strip().isdigit() else text.strip()


def _error_code(text: str) -> int:
    if text.isdigit():
        return int(text)
    value = getattr(double_abi, f"NVML_ERROR_{text.upper()}", None)
    if not isinstance(value, int):
        raise ValueError(f"unknown NVML error {text!r} in GPUFLEET_NVML_DOUBLE_FAIL_INIT: use e.g. DRIVER_NOT_LOADED")
    return value


# ---- test controls -------------------------------------------------------------------
def reset(**kwargs: Any) -> DoubleState:
    """A fresh double (see `DoubleState` for the arguments); wakes waiters on the old one."""
    global _STATE
    with _STATE_LOCK:
        old, _STATE = _STATE, DoubleState(**kwargs)
    if old is not None:
        with old.cond:
            old.generation += 1
            old.refcount = 0
            old.cond.notify_all()
    return _STATE


def reset_to_env() -> None:
    """Forget the state; the next use configures the double from the environment again
    (what a fresh process does; for tests that set GPUFLEET_NVML_DOUBLE_* variables)."""
    global _STATE
    with _STATE_LOCK:
        _STATE = None


def advance() -> Any:
    """Advance the fleet one tick; returns the `GpuFrame` the devices now answer from."""
    return state().advance()


def set_unsupported(gpu: int | None, *keys: Key) -> None:
    """Make field ids / functions answer NOT_SUPPORTED on `gpu` (None: every GPU)."""
    with state().lock:
        state().unsupported.update((gpu, k) for k in keys)


def set_supported(gpu: int | None, *keys: Key) -> None:
    with state().lock:
        state().unsupported.difference_update((gpu, k) for k in keys)


def fail_next(gpu: int, key: Key, code: int, times: int = 1) -> None:
    """The next `times` reads of `key` on `gpu` fail with NVML error `code`."""
    with state().lock:
        state().failures.setdefault((gpu, key), deque()).extend([code] * times)


def lose_gpu(gpu: int, xid: bool = True) -> None:
    """The GPU falls off the bus: XID 79 (when `xid`), then GPU_IS_LOST for every call."""
    if xid:
        inject_xid(gpu, 79)
    with state().lock:
        state().devices[gpu].lost = True


def inject_xid(gpu: int, xid: int) -> None:
    """Deliver an XID through every event set `gpu` is registered in (or once it registers)."""
    _deliver(gpu, nvmlEventTypeXidCriticalError, xid)


def set_recovery_action(gpu: int, action: int) -> None:
    """The driver asks for `action` on `gpu`: field 230 answers it from now on and a
    recovery-action event (data 0, as nvml.h documents) is delivered."""
    st = state()
    with st.lock:
        dev = st.devices[gpu]
        dev.recovery_action = action
        dev.values["recovery_action"] = action
    _deliver(gpu, EVENT_RECOVERY_ACTION, 0)


def _deliver(gpu: int, event_type: int, data: int) -> None:
    st = state()
    with st.cond:
        sets = [es for es in st.event_sets.values() if es.devices.get(gpu, 0) & event_type]
        for es in sets:
            es.queue.append((gpu, event_type, data))
        if not sets:
            st.pending_events.append((gpu, event_type, data))
        st.cond.notify_all()


def fail_init(code: int | None) -> None:
    """nvmlInit fails with `code` from now on (None: succeeds again)."""
    with state().lock:
        state().init_error = code


def driver_reload() -> None:
    """The driver is reloaded under the process: NVML is uninitialised, old handles and
    event sets stop working, lost GPUs come back (a reload resets them)."""
    st = state()
    with st.cond:
        st.generation += 1
        st.refcount = 0
        st.event_sets.clear()
        for dev in st.devices:
            dev.lost = False
        st._new_handles()
        st.cond.notify_all()


def calls(gpu: int, key: Key) -> int:
    """How often `key` (function name or field id) was asked of `gpu`."""
    return state().calls[(gpu, key)]
