"""What the GPM counters of a simulated GPU would say: SM, tensor, DRAM and pipe activity.

`utilization.gpu` only says a kernel ran; GPM says how much of the GPU worked. A training
step (the compute part of a job's cycle) keeps 80-95 % of SMs busy, the tensor pipes
40-70 % (a level per job: model shapes differ) and DRAM bandwidth 30-60 %; the
communication part runs NCCL kernels on a few SMs while NVLink carries the traffic; a
checkpoint leaves the SMs nearly idle and moves data over PCIe. An idle GPU reads 0 (GPM
is supported there, so 0 and not null). A stalled GPU (a hung kernel or collective) shows
the signature the "GPU stalled" alert looks for: utilization 100 %, SMs ~1 % active.

Noise comes from a random stream of its own, so adding these columns left every other
column of a seed's frames unchanged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from collectors.synthetic.workload import Activity, Jobs

F64 = npt.NDArray[np.float64]
GOLDEN = 0.6180339887


def _pct(values: F64) -> npt.NDArray[np.uint8]:
    return np.clip(np.round(values), 0, 100).astype(np.uint8)


def _mibps(values: F64) -> npt.NDArray[np.uint32]:
    return np.round(np.maximum(values, 0.0)).astype(np.uint32)


def sample(
    jobs: Jobs,
    work: Activity,
    stalled: npt.NDArray[np.bool_],
    pcie_kbps: tuple[F64, F64],
    nvlink_kib_s: F64,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The GPM columns of every GPU for one tick (whole percent, MiB/s)."""
    n = len(jobs.job)
    active, computing, ckpt = work.active, work.computing & ~work.checkpointing, work.checkpointing
    communicating = active & ~computing & ~ckpt
    # a per-job tensor level: the same for every GPU of a job, 40-70 %
    tensor_level = 40.0 + 30.0 * ((np.maximum(jobs.job, 0) * GOLDEN) % 1.0)
    noise = rng.normal(0.0, 1.0, (5, n))
    sm = np.select([computing, communicating, ckpt], [87.0 + 3.0 * noise[0], 28.0 + 3.0 * noise[0], 5.0 + noise[0]], 0.0)
    tensor = np.select([computing, communicating], [tensor_level + 3.0 * noise[1], 2.0 + 0.5 * noise[1]], 0.0)
    dram = np.select([computing, communicating, ckpt], [45.0 + 8.0 * noise[2], 22.0 + 3.0 * noise[2], 8.0 + noise[2]], 0.0)
    fp16 = np.where(computing, 14.0 + 2.0 * noise[3], 0.0)
    fp32 = np.select([computing, communicating], [10.0 + 2.0 * noise[4], 3.0 + 0.5 * noise[4]], 0.0)
    graphics = np.where(active, work.busy * 100.0 / 0.95, 0.0)
    # a hung kernel: the engine reads busy, almost nothing issues
    sm = np.where(stalled, 1.0 + 0.3 * np.abs(noise[0]), sm)
    tensor = np.where(stalled, 0.0, tensor)
    dram = np.where(stalled, 0.5, dram)
    fp16, fp32 = np.where(stalled, 0.0, fp16), np.where(stalled, 0.0, fp32)
    graphics = np.where(stalled, 100.0, graphics)
    nvlink_mibps = np.where(stalled, 0.0, nvlink_kib_s / 1024.0)
    return {
        "sm_active_pct": _pct(sm),
        "sm_occupancy_pct": _pct(sm * 0.55),
        "tensor_active_pct": _pct(tensor),
        "hmma_active_pct": _pct(tensor * 0.92),
        "dram_active_pct": _pct(dram),
        "fp64_active_pct": np.zeros(n, np.uint8),
        "fp32_active_pct": _pct(fp32),
        "fp16_active_pct": _pct(fp16),
        "graphics_active_pct": _pct(graphics),
        "gpm_pcie_tx_mibps": _mibps(pcie_kbps[0] / 1024.0),
        "gpm_pcie_rx_mibps": _mibps(pcie_kbps[1] / 1024.0),
        "gpm_nvlink_tx_mibps": _mibps(nvlink_mibps),
        "gpm_nvlink_rx_mibps": _mibps(nvlink_mibps * 0.98),
    }
