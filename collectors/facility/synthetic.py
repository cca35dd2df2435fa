"""Facility sensors consistent with a `SyntheticFleet`: what each rack's CDU, PDU and the
room would report at the fleet's current tick.

- PDU power = the rack's GPU power + host overhead per node, whether or not a node's
  collector is reporting (a silent collector does not stop the power draw, which is what
  the PDU-vs-GPU mismatch alert catches).
- Coolant: supply from the fleet's coolant model; return = supply + heat / (flow × c_p).
  A cooling failure drops the CDU's flow at once and the supply climbs: the CDU readings
  move first, the GPU temperatures follow through their thermal inertia.
"""

from __future__ import annotations

import numpy as np

from collectors.synthetic.fleet import SyntheticFleet
from collectors.synthetic.stamp import Stamp
from gpufleet.contract.schema import FacilitySample

HOST_OVERHEAD_W_PER_NODE = 1_200.0  # CPUs, NICs, fans, PSU losses of an 8-GPU server
NOMINAL_FLOW_LPM = 90.0
FAILED_FLOW_LPM = 30.0
WATER_J_PER_L_K = 4_186.0 * 0.997  # specific heat × density
ROOM_INLET_C = 24.0


class SyntheticFacility:
    """Six readings per rack per tick: CDU supply/return, flow, PDU power, room inlet and humidity."""

    def __init__(self, fleet: SyntheticFleet, site: str) -> None:
        self.fleet = fleet
        self.site = site
        topo = fleet.topology
        self._racks, first_gpu = np.unique(topo.rack_of_gpu, return_index=True)
        self._rack_of_gpu = np.searchsorted(self._racks, topo.rack_of_gpu)
        self._nodes_per_rack = np.bincount(self._rack_of_gpu, weights=np.ones(topo.n_gpus) / 8)
        labels = topo.labels
        self._rack_names = [labels["rack"].values[labels["rack"].codes[g]] for g in first_gpu]
        self._hall_names = [labels["hall"].values[labels["hall"].codes[g]] for g in first_gpu]
        self._rng = np.random.default_rng([fleet.seed, 0xFAC])
        self._reading = Stamp(FacilitySample.model_construct(ts_ms=0, site=site, hall="", rack="", sensor="", value=0.0))

    def sample(self, ts_ms: int) -> list[FacilitySample]:
        fleet, n, rng = self.fleet, len(self._racks), self._rng
        gpu_w = np.bincount(self._rack_of_gpu, weights=fleet.gpu_power_w, minlength=n)
        pdu_w = gpu_w + HOST_OVERHEAD_W_PER_NODE * self._nodes_per_rack + rng.normal(0, 150, n)
        supply_c = np.bincount(self._rack_of_gpu, weights=fleet.coolant_supply_c, minlength=n) / np.bincount(
            self._rack_of_gpu, minlength=n
        )
        failing = np.isin(self._racks, list(fleet.failing_racks))
        flow = np.where(failing, FAILED_FLOW_LPM, NOMINAL_FLOW_LPM) + rng.normal(0, 0.8, n)
        heat_w = gpu_w + 0.3 * HOST_OVERHEAD_W_PER_NODE * self._nodes_per_rack  # hosts are partly air-cooled
        return_c = supply_c + heat_w / (flow / 60.0 * WATER_J_PER_L_K)
        hour = (ts_ms / 3_600_000.0) % 24.0
        room_c = ROOM_INLET_C + 1.5 * np.sin(2 * np.pi * (hour - 9.0) / 24.0) + rng.normal(0, 0.2, n)
        humidity = 45.0 + rng.normal(0, 1.5, n)
        columns = {
            "cdu_supply_temp_c": supply_c + rng.normal(0, 0.05, n),
            "cdu_return_temp_c": return_c + rng.normal(0, 0.05, n),
            "coolant_flow_lpm": flow,
            "pdu_power_w": pdu_w,
            "room_inlet_temp_c": room_c,
            "room_humidity_pct": humidity,
        }
        reading, halls, racks = self._reading, self._hall_names, self._rack_names
        return [
            reading(ts_ms=ts_ms, hall=hall, rack=rack, sensor=sensor, value=round(v, 2))
            for sensor, values in columns.items()
            for hall, rack, v in zip(halls, racks, values.tolist(), strict=True)
        ]
