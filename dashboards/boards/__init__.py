"""The dashboards, one module each; `all_dashboards()` builds them in a fixed order."""

from __future__ import annotations

from dashboards.boards import activity, facility, gpu, jobs, overview, pipeline, power, reliability, thermal, utilization
from dashboards.panels import Json

MODULES = (overview, power, thermal, reliability, gpu, utilization, activity, pipeline, facility, jobs)


def all_dashboards() -> list[Json]:
    return [module.build() for module in MODULES]
