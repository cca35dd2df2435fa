"""Facility sensors a site publishes over MQTT, with their units and plausible ranges.

One topic per rack and sensor: `facility/<site>/<hall>/<rack>/<sensor>`. The unit is part
of the sensor's name, as everywhere in gpufleet; a payload that states another unit is
rejected rather than converted, because a CDU reporting °F where °C is configured is a
metering fault someone must fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Sensor:
    name: str
    unit: str
    spellings: frozenset[str]  # units a payload may state for this sensor
    low: float  # outside [low, high] the reading is physically implausible
    high: float
    description: str


def _s(name: str, unit: str, spellings: set[str], low: float, high: float, description: str) -> Sensor:
    return Sensor(name, unit, frozenset(spellings | {unit}), low, high, description)


SENSORS: Final[dict[str, Sensor]] = {
    s.name: s
    for s in (
        _s("cdu_supply_temp_c", "°C", {"C", "degC", "celsius"}, -10, 90, "coolant into the rack from its CDU"),
        _s("cdu_return_temp_c", "°C", {"C", "degC", "celsius"}, -10, 100, "coolant back from the rack"),
        _s("coolant_flow_lpm", "L/min", {"lpm", "l/min"}, 0, 2000, "coolant flow through the rack"),
        _s("pdu_power_w", "W", {"watt", "watts"}, 0, 500_000, "rack PDU power"),
        _s("room_inlet_temp_c", "°C", {"C", "degC", "celsius"}, -10, 60, "room air at the rack inlet"),
        _s("room_humidity_pct", "%", {"pct", "percent", "%RH"}, 0, 100, "room relative humidity at the rack"),
    )
}

TOPIC_PREFIX: Final = "facility"
TOPIC_FILTER: Final = "facility/+/+/+/+"
