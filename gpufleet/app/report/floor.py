"""The floor map's cells: every rack placed on a grid per hall (rows down, racks across).

Placement comes from the labels alone (hall, row, rack names sorted), not from the
synthetic topology, so a real site whose labels sort in floor order draws the same way.
The cells are also written to `report.json` beside the HTML: the map is data a test (or a
ticket bot) can check, such as which rack was hottest, without reading pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from storage.base import QueryResult


@dataclass(frozen=True, slots=True)
class RackCell:
    hall: str
    row: str
    rack: str
    y: int  # the row's position within its hall, 0 at the top
    x: int  # the rack's position within its row, 0 at the left
    peak_gpu_temp_c: float | None
    peak_hbm_temp_c: float | None
    mean_gpu_temp_c: float | None
    gpus: int
    gpus_throttled: int
    peak_supply_c: float | None  # the rack CDU's highest coolant supply reading; None without facility data
    mean_supply_c: float | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def floor_cells(racks: QueryResult, coolant: QueryResult) -> list[RackCell]:
    """`report_rack_floor` rows placed on the grid, joined with `report_rack_coolant` by (hall, rack)."""
    supply = {(str(r[0]), str(r[1])): (_num(r[2]), _num(r[3])) for r in coolant.rows}
    rows_of_hall: dict[str, list[str]] = {}
    racks_of_row: dict[tuple[str, str], list[str]] = {}
    records = [dict(zip(racks.columns, row, strict=True)) for row in racks.rows]
    for r in records:
        rows_of_hall.setdefault(r["hall"], []).append(r["row"])
        racks_of_row.setdefault((r["hall"], r["row"]), []).append(r["rack"])
    row_pos = {h: {name: i for i, name in enumerate(sorted(set(rows)))} for h, rows in rows_of_hall.items()}
    rack_pos = {key: {name: i for i, name in enumerate(sorted(set(names)))} for key, names in racks_of_row.items()}
    cells = []
    for r in records:
        hall, row, rack = str(r["hall"]), str(r["row"]), str(r["rack"])
        peak_supply, mean_supply = supply.get((hall, rack), (None, None))
        cells.append(
            RackCell(
                hall=hall,
                row=row,
                rack=rack,
                y=row_pos[hall][row],
                x=rack_pos[(hall, row)][rack],
                peak_gpu_temp_c=_num(r["peak_gpu_temp_c"]),
                peak_hbm_temp_c=_num(r["peak_hbm_temp_c"]),
                mean_gpu_temp_c=_num(r["mean_gpu_temp_c"]),
                gpus=int(r["gpus"]),
                gpus_throttled=int(r["gpus_throttled"]),
                peak_supply_c=peak_supply,
                mean_supply_c=mean_supply,
            )
        )
    return cells


def hottest(cells: list[RackCell], value: str = "peak_gpu_temp_c") -> RackCell | None:
    """The cell with the highest `value` (ties: the first in floor order), or None."""
    scored = [c for c in cells if getattr(c, value) is not None]
    return max(scored, key=lambda c: float(getattr(c, value))) if scored else None


def has_coolant(cells: list[RackCell]) -> bool:
    return any(c.peak_supply_c is not None for c in cells)
