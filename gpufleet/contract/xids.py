"""The XID catalog, kept as data (`gpufleet/contract/data/xid_catalog.csv`).

Rows come from NVIDIA's XID catalog as transcribed in shared/reference/nvml-and-dcgm.md §4.
`fatal` marks the codes the alert rules page on (48, 64, 74, 79, 94, 95, 109, 119, 120, 140).
Collectors attach meaning and action to each XID event; storage loads the same file as a
table so queries can join it.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class XidInfo:
    xid: int
    mnemonic: str
    meaning: str
    action: str
    severity: str
    fatal: bool

    def describe(self) -> str:
        return f"XID {self.xid} {self.mnemonic}: {self.meaning}; action: {self.action}"


@functools.cache
def catalog() -> dict[int, XidInfo]:
    text = resources.files("gpufleet.contract.data").joinpath("xid_catalog.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return {
        int(r["xid"]): XidInfo(int(r["xid"]), r["mnemonic"], r["meaning"], r["action"], r["severity"], r["fatal"] == "1")
        for r in rows
    }


def lookup(xid: int) -> XidInfo:
    """The catalog entry for `xid`, or a generic one for codes the catalog lacks."""
    return catalog().get(xid) or XidInfo(
        xid, "UNKNOWN_XID", "Not in gpufleet's XID catalog", "CHECK_NVIDIA_DOCS", "warning", False
    )


def fatal_xids() -> tuple[int, ...]:
    return tuple(sorted(x for x, info in catalog().items() if info.fatal))
