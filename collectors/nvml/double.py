"""A `pynvml`-compatible NVML double backed by the synthetic fleet (one node of 8 GPUs).

Same import-level contract as nvidia-ml-py 13.x for what gpufleet uses: function names
and signatures, `NVML_*` constants, `NVMLError` whose constructor returns the
`NVMLError_<Name>` subclass for the code, ctypes return structures
(`c_nvmlFieldValue_t` with `.nvmlReturn`, `.valueType`, `.value.ullVal`, ...), opaque
ctypes device handles, and `nvmlEventSetWait` that raises `NVMLError_Timeout`. Values
come from a `SyntheticFleet` tick, so tests compare what the collector read with what the
model produced. Select it with `SourceConfig(nvml_module="collectors.nvml.double")` or
`gpufleet collect --source nvml --nvml-module collectors.nvml.double`.

Test controls are the functions without the `nvml` prefix: `reset`, `advance`,
`set_unsupported`, `set_supported`, `fail_next`, `lose_gpu`, `inject_xid`,
`set_recovery_action`, `fail_init`, `driver_reload`, `calls`, `reset_to_env`. A fresh process
(the CLI) is configured from environment variables, read when the double is first used:

- `GPUFLEET_NVML_DOUBLE_FAIL_INIT`: nvmlInit fails with this error (`DRIVER_NOT_LOADED` or `9`)
- `GPUFLEET_NVML_DOUBLE_GPUS`, `GPUFLEET_NVML_DOUBLE_SEED`: fleet size (8) and seed (0)
- `GPUFLEET_NVML_DOUBLE_MIG`: comma-separated GPU indexes in MIG mode, each with two GPU
  instances (ids 1 and 2, 4 and 3 slices; GPM activity 100 % and 50 % of the GPU's)
- `GPUFLEET_NVML_DOUBLE_UNSUPPORTED`: `gpu:key` pairs (`*` = every GPU; key = field id or function name)
- `GPUFLEET_NVML_DOUBLE_XIDS`: `gpu:xid` pairs, delivered through the event set once registered
- `GPUFLEET_NVML_DOUBLE_STALL`: comma-separated GPU indexes stalled (100 % busy, SMs ~1 % active)
- `GPUFLEET_NVML_DOUBLE_RECOVERY`: `gpu:action` pairs: field 230 answers `action` and a
  recovery-action event is delivered once registered
"""

from collectors.nvml.double_abi import *  # noqa: F403 - constants, errors, structures
from collectors.nvml.double_device import *  # noqa: F403 - the nvml* functions
from collectors.nvml.double_gpm import *  # noqa: F403 - GPM, processes, recovery-action constants
from collectors.nvml.double_mig import *  # noqa: F403 - MIG GPU instances and their handles

# test controls, re-exported (`X as X`) so type checkers see them as this module's
from collectors.nvml.double_state import DoubleState as DoubleState  # noqa: PLC0414
from collectors.nvml.double_state import advance as advance  # noqa: PLC0414
from collectors.nvml.double_state import calls as calls  # noqa: PLC0414
from collectors.nvml.double_state import driver_reload as driver_reload  # noqa: PLC0414
from collectors.nvml.double_state import fail_init as fail_init  # noqa: PLC0414
from collectors.nvml.double_state import fail_next as fail_next  # noqa: PLC0414
from collectors.nvml.double_state import inject_xid as inject_xid  # noqa: PLC0414
from collectors.nvml.double_state import lose_gpu as lose_gpu  # noqa: PLC0414
from collectors.nvml.double_state import reset as reset  # noqa: PLC0414
from collectors.nvml.double_state import reset_to_env as reset_to_env  # noqa: PLC0414
from collectors.nvml.double_state import set_recovery_action as set_recovery_action  # noqa: PLC0414
from collectors.nvml.double_state import set_supported as set_supported  # noqa: PLC0414
from collectors.nvml.double_state import set_unsupported as set_unsupported  # noqa: PLC0414
from collectors.nvml.double_state import state as state  # noqa: PLC0414
