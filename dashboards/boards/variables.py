"""Dashboard variables: cluster → hall → rack → node → GPU, each chained to its parent, and job."""

from __future__ import annotations

from typing import Final

from dashboards.panels import Json, query_variable

# Variable name → its label; each reads `var_<name>.sql`.
_LABELS: Final = {"cluster": "Cluster", "hall": "Hall", "rack": "Rack", "node": "Node", "gpu": "GPU", "job": "Job"}
_TOPOLOGY: Final = ("cluster", "hall", "rack", "node", "gpu")


def variable(name: str) -> Json:
    return query_variable(name, _LABELS[name], f"var_{name}")


def topology(depth: int) -> list[Json]:
    """The first `depth` variables of cluster, hall, rack, node, gpu."""
    return [variable(name) for name in _TOPOLOGY[:depth]]
