"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import collectors.nvml.double as nvml
from tests.support.nvml_frames import clear_double_env


@pytest.fixture
def double_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The NVML double with no GPUFLEET_NVML_DOUBLE_* set; set some with the monkeypatch it yields."""
    clear_double_env(monkeypatch)
    yield monkeypatch
    nvml.reset()
