"""Facility: each rack's CDU (coolant supply, return, ΔT, flow), its PDU power next to what its
GPUs report, and the room (inlet air, humidity), so a rack that throttles can be read as
"its CDU supply is 6 °C high". Panels read the facility minute rollup and the per-second
rack power rollup; the "now" stats read the last minute of raw readings. Thresholds are the
alert rules' defaults (`AlertThresholds`), so a panel turns red where an alert fires.
"""

from __future__ import annotations

from typing import Any

from dashboards.boards.variables import topology
from dashboards.config import AlertThresholds
from dashboards.panels import OK_STEPS, TABLE, Json, Panel, dashboard, layout, stat, steps, table, timeseries

UID, TITLE = "gpufleet-facility", "Facility: coolant and rack power"
DESCRIPTION = (
    "Each rack's CDU coolant supply, return, ΔT and flow; its PDU power against its GPUs' power; room inlet and humidity."
)

_T = AlertThresholds()
_PDU_WARN_KW = _T.rack_pdu_limit_kw * _T.rack_pdu_warn_pct / 100
SUPPLY_STEPS = steps((None, "green"), (_T.coolant_supply_high_c - 3, "orange"), (_T.coolant_supply_high_c, "red"))
FLOW_STEPS = steps((None, "red"), (_T.coolant_flow_low_lpm, "green"))
DELTA_T_PER_KW_STEPS = steps((None, "green"), (_T.delta_t_c_per_kw_max, "red"))
PDU_KW_STEPS = steps((None, "green"), (_PDU_WARN_KW, "orange"), (_T.rack_pdu_limit_kw, "red"))
PDU_PCT_STEPS = steps((None, "green"), (_T.rack_pdu_warn_pct, "orange"), (100, "red"))
UNEXPLAINED_STEPS = steps((None, "red"), (-_T.pdu_mismatch_kw, "green"), (_T.pdu_mismatch_kw, "red"))
ROOM_INLET_STEPS = steps((None, "blue"), (18, "green"), (27, "orange"), (32, "red"))  # ASHRAE A1: 18-27 recommended, 32 allowable
HUMIDITY_STEPS = steps((None, "green"), (60, "orange"), (80, "red"))  # ASHRAE recommended: at most 60 % RH
_VALUES: dict[str, object] = {
    "rack_pdu_limit_kw": _T.rack_pdu_limit_kw,
    "host_overhead_w_per_gpu": _T.host_overhead_w_per_gpu,
    "delta_t_min_load_kw": _T.delta_t_min_load_kw,
}


def sensor(title: str, name: str, alias: str, unit: str, thresholds: Json, **kw: Any) -> Panel:
    """A time series of one facility sensor per rack (the `facility_sensor` template)."""
    return timeseries(title, "facility_sensor", unit, thresholds=thresholds, values={"sensor": name, "alias": alias}, **kw)


def now(title: str, field: str, unit: str, thresholds: Json = OK_STEPS, decimals: int = 1) -> Panel:
    """A stat of one column of `facility_now` (the facility at the end of the range)."""
    return stat(title, "facility_now", unit, field=field, fmt=TABLE, thresholds=thresholds, decimals=decimals, values=_VALUES)


def _line(panel: Panel) -> Panel:
    """Draw the thresholds as lines, so a rack's curve shows how far it is from the alert."""
    panel.custom = {**panel.custom, "thresholdsStyle": {"mode": "line"}}
    return panel


def build() -> Json:
    items: list[Panel | str] = [
        now("Hottest CDU supply", "hottest_supply_c", "celsius", SUPPLY_STEPS),
        now("Lowest coolant flow", "lowest_flow_lpm", "flowlpm", FLOW_STEPS, decimals=0),
        now("Rack PDU power (total)", "pdu_total_kw", "kwatt"),
        now("Fullest rack (% of PDU limit)", "fullest_rack_pct", "percent", PDU_PCT_STEPS),
        "Coolant",
        _line(sensor("CDU supply temperature", "cdu_supply_temp_c", "supply_c", "celsius", SUPPLY_STEPS)),
        sensor("CDU return temperature", "cdu_return_temp_c", "return_c", "celsius", OK_STEPS),  # warmer than supply by ΔT
        timeseries("Coolant ΔT (return - supply)", "facility_delta_t", "celsius", min=0),
        _line(sensor("Coolant flow", "coolant_flow_lpm", "flow_lpm", "flowlpm", FLOW_STEPS, min=0)),
        _line(
            timeseries(
                "Coolant ΔT per kW of rack power",
                "facility_delta_t_per_kw",
                "suffix: °C/kW",
                width=24,
                thresholds=DELTA_T_PER_KW_STEPS,
                decimals=3,
                min=0,
                values=_VALUES,
            )
        ),
        "Power",
        _line(timeseries("PDU power vs GPU power", "facility_power", "kwatt", thresholds=PDU_KW_STEPS, min=0)),
        _line(
            timeseries(
                "Power not explained by GPUs and host overhead",
                "facility_unexplained",
                "kwatt",
                thresholds=UNEXPLAINED_STEPS,
                values=_VALUES,
            )
        ),
        "Room",
        sensor("Room inlet temperature", "room_inlet_temp_c", "inlet_c", "celsius", ROOM_INLET_STEPS),
        sensor("Room humidity", "room_humidity_pct", "humidity_pct", "humidity", HUMIDITY_STEPS, min=0, max=100),
        "Racks",
        table("Racks: CDU, PDU and GPUs", "facility_racks", "none", decimals=1, values=_VALUES, height=10),
    ]
    return dashboard(UID, TITLE, DESCRIPTION, layout(items), topology(3), time_from="now-3h")
