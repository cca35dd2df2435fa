"""What the driver says to do about a GPU: NVML's recovery action, by code.

`NVML_FI_DEV_GET_GPU_RECOVERY_ACTION` (field 230, driver r570+) holds one
`nvmlDeviceGpuRecoveryAction_t`; the column `recovery_action` carries the code as NVML
gives it. Names follow nvidia-ml-py 13.615 (`NVML_GPU_RECOVERY_ACTION_*`); 13.580 called 5
`GPU_RESET_BUS` and had nothing above 5, so a code this table does not know is shown as
`UNKNOWN(<code>)` and still counts as "needs recovery". The runbook steps are what an
operator does for each (DCGM's DRIVER health watch fails on GPU_RESET, NODE_REBOOT and
DRAIN_AND_RESET and warns on DRAIN_P2P: shared/reference/nvml-and-dcgm.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True, slots=True)
class RecoveryAction:
    code: int
    name: str
    severity: Severity
    runbook: str

    def describe(self) -> str:
        return f"recovery action {self.name}: {self.runbook}"


NONE: Final = 0
RECOVERY_ACTIONS: Final[dict[int, RecoveryAction]] = {
    a.code: a
    for a in (
        RecoveryAction(0, "NONE", "info", "nothing to do"),
        RecoveryAction(1, "GPU_RESET", "critical", "drain the GPU's jobs, then reset the GPU (nvidia-smi -r)"),
        RecoveryAction(2, "NODE_REBOOT", "critical", "drain the node, then reboot it"),
        RecoveryAction(3, "DRAIN_P2P", "warning", "stop peer-to-peer (NVLink) work on the GPU; let running jobs finish"),
        RecoveryAction(4, "DRAIN_AND_RESET", "critical", "drain the GPU's jobs, then reset the GPU"),
        RecoveryAction(5, "RECOVER_IMEX_DOMAIN", "critical", "restart the IMEX daemons of the GPU's NVLink domain"),
        RecoveryAction(6, "BUS_RESET", "critical", "drain the GPU's jobs, then reset it on the PCIe bus"),
        RecoveryAction(7, "SYSTEM_REBOOT", "critical", "drain the node, then reboot the whole system"),
    )
}


def recovery_action(code: int) -> RecoveryAction:
    """The action for `code`; an unknown code still asks for attention."""
    known = RECOVERY_ACTIONS.get(code)
    if known is not None:
        return known
    return RecoveryAction(code, f"UNKNOWN({code})", "critical", "check the driver's documentation for this code")
