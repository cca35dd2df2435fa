"""The dcgm-exporter-compatible exposition: names, units, labels, values equal to the frame."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

import collectors.nvml.double as nvml_double
from collectors.base import SourceConfig, create_source
from collectors.nvml.source import NvmlSource
from collectors.prometheus.exposition import BASE_LABELS, GpuExposition, served_metric_names
from collectors.prometheus.fields import DEV_METRICS, GPM_COLUMNS, PROF_METRICS
from collectors.prometheus.jobs import HpcJobMapping
from collectors.prometheus.server import render
from gpufleet.contract.frame import GpuFrame
from gpufleet.contract.schema import GpuEvent

DASHBOARD_12239 = Path(__file__).parents[1] / "data" / "dcgm_dashboard_12239_metrics.txt"


def dashboard_metrics() -> list[str]:
    return [line.strip() for line in DASHBOARD_12239.read_text().splitlines() if line.strip() and not line.startswith("#")]


@pytest.fixture
def nvml() -> Iterator[NvmlSource]:
    nvml_double.reset(gpus=8, seed=3)
    source = create_source(SourceConfig(kind="nvml", nvml_module="collectors.nvml.double", topology={"node": "node-7"}))
    assert isinstance(source, NvmlSource)
    yield source
    source.close()


def scrape(exposition: GpuExposition) -> dict[str, list[tuple[dict[str, str], float]]]:
    registry = CollectorRegistry()
    registry.register(exposition)
    return parse(render(registry.collect()).decode())


_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by name exactly as written (prometheus_client's parser renames counters)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, line
        labels = dict(_LABEL.findall(match.group(2) or ""))
        out.setdefault(match.group(1), []).append((labels, float(match.group(3))))
    return out


def one_tick(source: NvmlSource, exposition: GpuExposition) -> GpuFrame:
    source.open(lambda event: exposition.publish_events([event]))
    exposition.publish_inventory(source.inventory())
    nvml_double.advance()
    frame = source.sample(1_767_225_601_000)
    exposition.publish_samples(frame)
    return frame


def test_every_frame_column_is_served_with_dcgm_units_and_labels(nvml: NvmlSource) -> None:
    exposition = GpuExposition()
    frame = one_tick(nvml, exposition)
    served = scrape(exposition)
    inventory = {i.uuid: i for i in nvml.inventory()}
    for spec in DEV_METRICS:
        series = served[spec.name]
        has_value = ~np.any([frame.null_mask(c) for c in spec.columns], axis=0)
        assert len(series) == int(has_value.sum()), spec.name
        by_uuid = {labels["UUID"]: (labels, value) for labels, value in series}
        for row, uuid in enumerate(frame.label_list("uuid")):
            if any(frame.null_mask(c)[row] for c in spec.columns):
                assert uuid not in by_uuid, f"{spec.name}: a null is no series, not 0"
                continue
            labels, value = by_uuid[uuid]
            raw = [float(frame.metrics[c][row]) for c in spec.columns]
            assert labels["gpu"] == str(int(frame.gpu_index[row]))
            assert labels["device"] == f"nvidia{int(frame.gpu_index[row])}"
            assert labels["Hostname"] == "node-7"
            assert labels["modelName"] == inventory[uuid].model
            assert labels["pci_bus_id"] == inventory[uuid].pci_bus_id
            assert labels["DCGM_FI_DRIVER_VERSION"] == inventory[uuid].driver_version
            assert set(BASE_LABELS) <= set(labels)
            if spec.name == "DCGM_FI_DEV_FB_FREE":
                assert value == raw[0] - raw[1]
            elif spec.name == "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL":
                assert value == raw[0] + raw[1]
            else:
                assert value == raw[0] * spec.scale / spec.divisor, spec.name


def test_power_is_watts_and_energy_millijoules(nvml: NvmlSource) -> None:
    exposition = GpuExposition()
    frame = one_tick(nvml, exposition)
    served = scrape(exposition)
    power = {labels["gpu"]: v for labels, v in served["DCGM_FI_DEV_POWER_USAGE"]}
    energy = {labels["gpu"]: v for labels, v in served["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"]}
    for row, index in enumerate(frame.gpu_index.tolist()):
        assert power[str(index)] == int(frame.metrics["power_mw"][row]) / 1000
        assert 50 < power[str(index)] < 1000  # an H100/H200 in watts, not milliwatts
        assert energy[str(index)] == float(frame.metrics["energy_mj"][row])


def test_counters_keep_dcgm_names_without_total() -> None:
    frame_text = _rendered_text_of_a_tick()
    assert "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter" in frame_text
    assert "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION_total" not in frame_text
    assert "# TYPE DCGM_FI_DEV_GPU_TEMP gauge" in frame_text


def _rendered_text_of_a_tick() -> str:
    nvml_double.reset(gpus=2, seed=1)
    source = create_source(SourceConfig(kind="nvml", nvml_module="collectors.nvml.double"))
    assert isinstance(source, NvmlSource)
    try:
        exposition = GpuExposition()
        one_tick(source, exposition)
        registry = CollectorRegistry()
        registry.register(exposition)
        return render(registry.collect()).decode()
    finally:
        source.close()


def test_unsupported_field_serves_no_series_for_that_gpu() -> None:
    nvml_double.reset(gpus=4, seed=2)
    nvml_double.set_unsupported(1, 82)
    source = create_source(SourceConfig(kind="nvml", nvml_module="collectors.nvml.double"))
    assert isinstance(source, NvmlSource)
    try:
        exposition = GpuExposition()
        frame = one_tick(source, exposition)
        assert frame.null_mask("mem_temp_c").tolist() == [False, True, False, False]
        gpus = sorted(labels["gpu"] for labels, _ in scrape(exposition)["DCGM_FI_DEV_MEMORY_TEMP"])
        assert gpus == ["0", "2", "3"]
    finally:
        source.close()


def test_prof_metrics_are_gpm_percent_as_ratios_and_absent_where_gpm_is_null(nvml: NvmlSource) -> None:
    exposition = GpuExposition()
    frame = one_tick(nvml, exposition)
    gpm = np.array([87.0, 12.0, 0.0, 100.0, 50.0, 50.0, 50.0, 50.0])
    no_gpm = np.zeros(len(frame), dtype=bool)
    no_gpm[1] = True  # a GPU whose GPM read failed: null, so no series rather than 0
    for column in GPM_COLUMNS.values():
        frame.metrics[column] = gpm.astype(frame.metrics[column].dtype)
        frame.nulls[column] = no_gpm
    served = scrape(exposition)
    expected = sorted((gpm[~no_gpm] / 100).tolist())
    for name in GPM_COLUMNS:
        assert sorted(v for _, v in served[name]) == expected, f"{name}: a 0-1 ratio, GPU 1 left out"
        assert "1" not in {labels["gpu"] for labels, _ in served[name]}
    for column in GPM_COLUMNS.values():
        frame.nulls[column] = np.ones(len(frame), dtype=bool)
    assert not any(name in GPM_COLUMNS for name in scrape(exposition)), "no GPM data: no PROF series"


def test_every_dashboard_12239_metric_is_served(nvml: NvmlSource) -> None:
    exposition = GpuExposition()
    frame = one_tick(nvml, exposition)
    wanted = dashboard_metrics()
    assert len(wanted) >= 6
    served = set(served_metric_names(frame))
    assert set(scrape(exposition)) >= served - {"gpufleet_xid_events"}
    missing = set(wanted) - served
    gpm_backed = {spec.name for spec in PROF_METRICS}
    # Until the collector samples GPM (issue 15), the two profiling metrics the dashboard
    # reads have no data: they are the only ones missing, and they are the GPM-backed ones.
    if not any(c in frame.metrics for c in GPM_COLUMNS.values()):
        assert missing == {"DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"}
        assert missing <= gpm_backed
    else:
        assert not missing


def test_xid_gauge_holds_the_last_xid_and_the_count_every_repeat(nvml: NvmlSource) -> None:
    exposition = GpuExposition()
    frame = one_tick(nvml, exposition)
    uuid = frame.label_list("uuid")[2]
    for xid in (31, 79, 79):
        exposition.publish_events(
            [GpuEvent.model_validate({**nvml.labels, "ts_ms": 1, "kind": "xid", "gpu_index": 2, "uuid": uuid, "xid": xid})]
        )
    served = scrape(exposition)
    last = {labels["gpu"]: (labels, v) for labels, v in served["DCGM_FI_DEV_XID_ERRORS"]}
    assert last["2"][1] == 79
    assert last["2"][0]["err_code"] == "79"
    assert last["2"][0]["err_msg"] == "GPU_HAS_FALLEN_OFF_THE_BUS"
    assert last["0"][1] == 0
    counts = {labels["gpu"]: v for labels, v in served["gpufleet_xid_events_total"]}
    assert counts["2"] == 3
    assert counts["0"] == 0


def test_label_churn_leaves_nothing_behind(nvml: NvmlSource) -> None:
    """A job label that changes every tick: only the latest set is served, output stays flat."""
    job = {"id": 0}
    exposition = GpuExposition(job_labels=lambda node, gpu: {"hpc_job": f"job-{job['id']}-{gpu}"})
    frame = one_tick(nvml, exposition)
    sizes = []
    for i in range(300):
        job["id"] = i
        exposition.publish_samples(frame)
        served = scrape(exposition)
        jobs = {labels["hpc_job"] for labels, _ in served["DCGM_FI_DEV_GPU_TEMP"]}
        assert jobs == {f"job-{i}-{g}" for g in range(8)}
        sizes.append(sum(len(v) for v in served.values()))
    assert len(set(sizes)) == 1


def test_hpc_job_labels_follow_the_mapping_files(nvml: NvmlSource, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "0").write_text("1234\n")
    (jobs / "3").write_text("77\n78\n")
    exposition = GpuExposition(job_labels=HpcJobMapping(jobs))
    one_tick(nvml, exposition)

    def job_of() -> dict[str, str | None]:
        return {labels["gpu"]: labels.get("hpc_job") for labels, _ in scrape(exposition)["DCGM_FI_DEV_GPU_TEMP"]}

    assert job_of() == {"0": "1234", "3": "77,78"} | {str(g): None for g in (1, 2, 4, 5, 6, 7)}
    (jobs / "0").unlink()  # the epilog: the job ended
    (jobs / "1").write_text("999\n")
    os.utime(jobs / "3", ns=(1, 1))
    (jobs / "3").write_text("78\n")
    got = job_of()
    assert (got["0"], got["1"], got["3"]) == (None, "999", "78")
