"""Dashboard variables: cluster → hall → rack → node → GPU, each chained to its parent."""

from __future__ import annotations

from dashboards.panels import Json, query_variable


def cluster() -> Json:
    return query_variable("cluster", "Cluster", "var_cluster")


def hall() -> Json:
    return query_variable("hall", "Hall", "var_hall")


def rack() -> Json:
    return query_variable("rack", "Rack", "var_rack")


def node() -> Json:
    return query_variable("node", "Node", "var_node")


def gpu() -> Json:
    return query_variable("gpu", "GPU", "var_gpu")


def job() -> Json:
    return query_variable("job", "Job", "var_job")


def topology(depth: int) -> list[Json]:
    """The first `depth` variables of cluster, hall, rack, node, gpu."""
    return [make() for make in (cluster, hall, rack, node, gpu)[:depth]]
