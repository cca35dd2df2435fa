"""The one place that imports `pynvml` (nvidia-ml-py), and what every NVML failure means.

Everything else in the collector talks to NVML through `NvmlLib`: it loads the module
named in the config (the real `pynvml`, or `collectors.nvml.double` in tests, so the code
under test is the same), sorts each NVML return code into the few outcomes a collector
acts on (`Outcome`), reads batched field values by their value type, and turns a missing
library into `SourceUnavailable` at startup. Functions are bound once at load, because a
tick calls ~20 of them per GPU and a dict lookup per call is measurable at 1 Hz x 8 GPUs.
"""

from __future__ import annotations

import atexit
import ctypes
import enum
import importlib
import logging
import struct
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from gpufleet.contract.errors import SourceUnavailable

log = logging.getLogger(__name__)

# NVML return codes (nvml.h; the same numbers in nvidia-ml-py 13.x).
SUCCESS = 0
ERROR_UNINITIALIZED = 1
ERROR_NOT_SUPPORTED = 3
ERROR_NO_PERMISSION = 4
ERROR_DRIVER_NOT_LOADED = 9
ERROR_TIMEOUT = 10
ERROR_LIBRARY_NOT_FOUND = 12
ERROR_FUNCTION_NOT_FOUND = 13
ERROR_GPU_IS_LOST = 15
ERROR_RESET_REQUIRED = 16
ERROR_LIB_RM_VERSION_MISMATCH = 18
ERROR_UNKNOWN = 999

# nvmlFieldValue_t.valueType -> the c_nvmlValue_t union member holding the value.
VALUE_MEMBERS: tuple[str, ...] = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")
# NVML_VALUE_NOT_AVAILABLE_* : -1 cast to unsigned, meaning "no reading right now".
NOT_AVAILABLE = frozenset({2**32 - 1, 2**64 - 1})
ALL_LINKS_SCOPE = 0xFFFFFFFF  # scopeId that sums NVLink throughput over every link

# nvmlFieldValue_t as laid out in memory (x86-64 and aarch64 Linux): reading a whole
# returned array through one numpy view costs ~2 us, where ctypes attribute access
# through pynvml's __getattribute__ override costs ~1 us per attribute, 4 per field.
FIELD_VALUE_DTYPE = np.dtype(
    [
        ("fieldId", "<u4"),
        ("scopeId", "<u4"),
        ("timestamp", "<i8"),
        ("latencyUsec", "<i8"),
        ("valueType", "<u4"),
        ("nvmlReturn", "<u4"),
        ("value", "<u8"),
    ]
)


class Outcome(enum.Enum):
    """What the collector does about a failed NVML call."""

    UNSUPPORTED = "unsupported"  # null, stop asking this device until NVML is re-initialised
    LOST = "lost"  # the GPU fell off the bus: event, stop sampling it
    REINIT = "reinit"  # the library lost its driver (reload): shut down and init again
    TRANSIENT = "transient"  # null for this tick only, ask again next tick


_OUTCOME_OF_CODE: dict[int, Outcome] = {
    ERROR_NOT_SUPPORTED: Outcome.UNSUPPORTED,
    ERROR_FUNCTION_NOT_FOUND: Outcome.UNSUPPORTED,
    ERROR_GPU_IS_LOST: Outcome.LOST,
    ERROR_RESET_REQUIRED: Outcome.LOST,
    ERROR_UNINITIALIZED: Outcome.REINIT,
    ERROR_DRIVER_NOT_LOADED: Outcome.REINIT,
    ERROR_LIB_RM_VERSION_MISMATCH: Outcome.REINIT,
}


def outcome_of(code: int) -> Outcome:
    """The collector's response to NVML return `code` (NO_PERMISSION, TIMEOUT, UNKNOWN and
    anything not listed degrade one field for one tick)."""
    return _OUTCOME_OF_CODE.get(code, Outcome.TRANSIENT)


class NvmlCallError(Exception):
    """A failed NVML call, already sorted into an `Outcome`."""

    def __init__(self, function: str, code: int, text: str) -> None:
        super().__init__(f"{function}: {text} (NVML error {code})")
        self.function = function
        self.code = code
        self.outcome = outcome_of(code)


def handle_key(handle: Any) -> int:
    """A stable integer for a device handle (`c_nvmlDevice_t` is a ctypes pointer), so an
    event's `device` can be matched to the handle we registered."""
    try:
        value = ctypes.cast(handle, ctypes.c_void_p).value
    except (TypeError, ctypes.ArgumentError):
        return id(handle)
    return int(value or 0)


class NvmlLib:
    """The loaded NVML binding, initialised at most once at a time (lock-guarded).

    Args:
        module_name: import name of a pynvml-compatible module ("pynvml" in production).

    Raises:
        SourceUnavailable: the module cannot be imported.
    """

    def __init__(self, module_name: str = "pynvml") -> None:
        try:
            self.module: ModuleType = importlib.import_module(module_name)
        except ImportError as e:
            hint = "install nvidia-ml-py: pip install 'gpufleet[collector]'"
            raise SourceUnavailable(f"NVML not available: cannot import {module_name!r} ({e}); {hint}") from e
        self.module_name = module_name
        self.error_type: type[Exception] = self.module.NVMLError
        self._lock = threading.Lock()
        self._initialised = False
        self._missing_logged: set[str] = set()
        self._fast_fields = _same_layout(getattr(self.module, "c_nvmlFieldValue_t", None))

    # ---- lifecycle -----------------------------------------------------------------
    def init(self) -> None:
        """nvmlInit; `SourceUnavailable("NVML not available: <reason>")` when it fails."""
        with self._lock:
            if self._initialised:
                return
            try:
                self.module.nvmlInit()
            except self.error_type as e:
                raise SourceUnavailable(
                    f"NVML not available: {e} (NVML error {self.code_of(e)}); "
                    "check that the NVIDIA driver is loaded (nvidia-smi) or use --source synthetic"
                ) from e
            self._initialised = True
            atexit.register(self.shutdown)  # a process that exits without close() still releases NVML

    def shutdown(self) -> None:
        """nvmlShutdown, ignoring failures: used on close and before a re-init."""
        with self._lock:
            if not self._initialised:
                return
            self._initialised = False
            atexit.unregister(self.shutdown)
            try:
                self.module.nvmlShutdown()
            except self.error_type as e:
                log.debug("nvmlShutdown failed: %s", e)

    @property
    def initialised(self) -> bool:
        return self._initialised

    # ---- calls ---------------------------------------------------------------------
    def const(self, name: str) -> Any:
        return getattr(self.module, name)

    def bind(self, name: str) -> Callable[..., Any] | None:
        """The module's function `name`, or None when this binding lacks it (an old
        nvidia-ml-py: the same situation as NVML_ERROR_FUNCTION_NOT_FOUND)."""
        fn = getattr(self.module, name, None)
        if fn is None:
            self.note_missing(name)
        return fn

    def note_missing(self, name: str) -> None:
        if name not in self._missing_logged:
            self._missing_logged.add(name)
            log.info("NVML function %s not found in this driver/binding; its fields stay null", name)

    def code_of(self, error: BaseException) -> int:
        return int(getattr(error, "value", ERROR_UNKNOWN))

    def call(self, name: str, *args: Any) -> Any:
        """Call NVML function `name`; failures come back as `NvmlCallError`."""
        fn = getattr(self.module, name, None)
        if fn is None:
            self.note_missing(name)
            raise NvmlCallError(name, ERROR_FUNCTION_NOT_FOUND, "Function Not Found")
        try:
            return fn(*args)
        except self.error_type as e:
            code = self.code_of(e)
            if code == ERROR_FUNCTION_NOT_FOUND:
                self.note_missing(name)
            raise NvmlCallError(name, code, str(e)) from e

    def query(self, name: str, *args: Any, default: Any = None) -> Any:
        """`call`, but UNSUPPORTED and TRANSIENT failures give `default` (inventory reads).
        LOST and REINIT still raise: the caller must act on them."""
        try:
            return self.call(name, *args)
        except NvmlCallError as e:
            if e.outcome in (Outcome.LOST, Outcome.REINIT):
                raise
            return default

    def field_values(self, handle: Any, ids: Sequence[int | tuple[int, int]]) -> list[tuple[int, int | None]]:
        """One `nvmlDeviceGetFieldValues` batch: (nvmlReturn, integer value or None) per id.

        The call as a whole can succeed while single fields fail, so each field's own
        return code comes back for the caller to act on. A value equal to NVML's
        not-available sentinel is None with SUCCESS.
        """
        values = self.call("nvmlDeviceGetFieldValues", handle, list(ids))
        if self._fast_fields:
            try:
                view = np.frombuffer(values, dtype=FIELD_VALUE_DTYPE)
            except (TypeError, ValueError):
                pass
            else:
                rets, kinds, raws = view["nvmlReturn"].tolist(), view["valueType"].tolist(), view["value"].tolist()
                return [
                    (ret, None) if ret else (ret, _decode_raw(kind, raw))
                    for ret, kind, raw in zip(rets, kinds, raws, strict=True)
                ]
        out: list[tuple[int, int | None]] = []
        for fv in values:
            ret = int(fv.nvmlReturn)
            if ret != SUCCESS:
                out.append((ret, None))
                continue
            raw = getattr(fv.value, VALUE_MEMBERS[fv.valueType])
            value = int(raw) if fv.valueType == 0 else raw
            out.append((ret, None if value in NOT_AVAILABLE else value))
        return out


def _same_layout(cls: Any) -> bool:
    """True when the binding's c_nvmlFieldValue_t matches FIELD_VALUE_DTYPE byte for byte."""
    try:
        offsets = [getattr(cls, name).offset for name in FIELD_VALUE_DTYPE.names or ()]
        size = ctypes.sizeof(cls)
    except (AttributeError, TypeError):
        return False
    expected = [FIELD_VALUE_DTYPE.fields[n][1] for n in FIELD_VALUE_DTYPE.names or ()]  # type: ignore[index]
    return offsets == expected and size == FIELD_VALUE_DTYPE.itemsize


def _decode_raw(kind: int, raw: int) -> int | None:
    """The c_nvmlValue_t union's 8 bytes (as an unsigned integer) read as `kind`."""
    if kind == 1:  # unsigned int: NVML writes only the low 4 bytes
        raw &= 0xFFFFFFFF
    elif kind == 0:  # double
        raw = int(struct.unpack("<d", raw.to_bytes(8, "little"))[0])
    elif kind == 4 and raw >= 1 << 63:  # signed long long
        raw -= 1 << 64
    elif kind == 5:  # signed int
        raw &= 0xFFFFFFFF
        raw = raw - (1 << 32) if raw >= 1 << 31 else raw
    elif kind == 6:  # unsigned short
        raw &= 0xFFFF
    return None if raw in NOT_AVAILABLE else raw
