"""Decoding the clocks-event-reasons bitmask in Python; the SQL decoder's agreement with it
runs on the engine (tests/integration/test_clock_reasons_sql.py)."""

from __future__ import annotations

import pytest

from collectors.nvml import clock_reasons as cr


def test_decode_names_bits_lowest_first() -> None:
    assert cr.decode(0x1) == ["gpu_idle"]
    assert cr.decode(0x4 | 0x40 | 0x8) == ["sw_power_cap", "hw_slowdown", "hw_thermal"]
    assert cr.decode(0) == [] and cr.decode(None) == []


def test_unknown_bits_are_shown_not_dropped() -> None:
    assert cr.decode(0x80 | 0x1000 | (1 << 40)) == ["hw_power_brake", "bit_0x1000", "bit_0x10000000000"]


def test_encode_inverts_decode() -> None:
    for mask in (0x1, 0x2A, 0x7FF, 0x88):
        assert cr.encode(cr.decode(mask)) == mask
    with pytest.raises(ValueError, match="unknown clocks-event reason 'fan_noise'"):
        cr.encode(["fan_noise"])


def test_names_match_the_nvml_bits() -> None:
    import pynvml

    assert cr.REASON_BITS["sw_thermal"] == pynvml.nvmlClocksEventReasonSwThermalSlowdown
    assert cr.REASON_BITS["hw_power_brake"] == pynvml.nvmlClocksEventReasonHwPowerBrakeSlowdown
    assert cr.REASON_BITS["display_clocks"] == pynvml.nvmlClocksEventReasonDisplayClockSetting
    assert cr.THROTTLE_MASK & cr.REASON_BITS["gpu_idle"] == 0


def test_sql_decode_refuses_non_identifiers() -> None:
    with pytest.raises(ValueError, match="plain identifier"):
        cr.sql_decode("x); DROP TABLE t; --")
