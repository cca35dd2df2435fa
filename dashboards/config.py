"""Names every generated artifact shares, and the alert thresholds.

The datasource uid is pinned: every panel target, every alert query and compose.yaml's
provisioning refer to it, so renaming the datasource in Grafana breaks nothing.
Thresholds come from shared/reference/fleet-numbers.md §8 and nvml-and-dcgm.md §3, §6.
"""

from __future__ import annotations

from dataclasses import dataclass

DATASOURCE_UID = "gpufleet-clickhouse"
DATASOURCE_NAME = "gpufleet ClickHouse"
DATASOURCE_TYPE = "grafana-clickhouse-datasource"
DATASOURCE_REF: dict[str, str] = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
EXPR_UID = "__expr__"  # Grafana's server-side expressions pseudo-datasource
FOLDER_UID = "gpufleet"
FOLDER_TITLE = "GPU Fleet"
ORG_ID = 1
CONTACT_POINT = "gpufleet-oncall"  # critical: page now
CONTACT_POINT_TICKETS = "gpufleet-tickets"  # warning: next business day
PLUGIN_VERSION = "4.20.0"  # the plugin the query model was read from (reference §1)
DASHBOARD_SCHEMA_VERSION = 41  # Grafana 11.6 (reference §2)
EVALUATION_INTERVAL_S = 60  # every rule group; windows are set per rule


@dataclass(frozen=True, slots=True)
class DatasourceConfig:
    """How Grafana reaches ClickHouse, as the read-only user `gpufleet db users` creates
    (storage/sql/server/users.sql). The password is never written here: provisioning reads
    `$GPUFLEET_GRAFANA_PASSWORD` from Grafana's environment, deploy from the caller's."""

    host: str = "clickhouse"
    port: int = 8123
    protocol: str = "http"
    secure: bool = False
    username: str = "gpufleet_grafana"
    database: str = "default"


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """Every number an alert rule compares with; rendered into both the rule's SQL and its
    Grafana condition, and used unchanged by `gpufleet alerts check`."""

    gpu_temp_warn_c: int = 85
    gpu_slowdown_default_c: int = 89  # when the inventory has no slowdown threshold for the GPU
    hbm_temp_warn_c: int = 85
    hbm_temp_crit_c: int = 95
    thermal_throttle_min_pct: int = 20  # share of the window's samples in thermal slowdown
    power_brake_min_samples: int = 1  # the brake pins clocks at ~40 %: any sample is news
    straggler_clock_pct: float = 90.0  # mean SM clock below this % of its node peers' median
    node_stale_s: int = 60
    ingest_lag_s: int = 60
    power_ramp_megawatts_per_s: float = 10.0  # fleet power swing; utilities constrain MW/s ramps
    dead_letters_min: int = 1
    job_idle_pct: float = 5.0  # a job's GPU below this utilization in a minute is not working
    job_stalled_minutes: int = 10  # minutes in which none of a running job's GPUs worked
    stall_min_samples: int = 120  # samples busy (util >= 90 %) with SM activity <= 5 %: 2 min at 1 Hz
    # Facility (CDU, PDU): site-specific; calibrate against the site's CDU setpoint, rack design and PDU rating.
    coolant_supply_high_c: float = 35.0  # CDU supply into the rack (the synthetic setpoint is 26-28 °C)
    coolant_flow_low_lpm: float = 60.0  # per rack (nominal 90 L/min in the synthetic facility)
    delta_t_c_per_kw_max: float = 0.25  # water takes ~0.16 °C/kW at 90 L/min: above 0.25 the flow is < ~65 %
    delta_t_min_load_kw: float = 5.0  # below this the ratio is noise
    rack_pdu_limit_kw: float = 80.0  # what a rack's PDUs and breakers may deliver
    rack_pdu_warn_pct: float = 90.0  # warn at this share of the limit
    host_overhead_w_per_gpu: float = 150.0  # CPUs, NICs, fans, PSU losses: ~1.2 kW per 8-GPU node
    pdu_mismatch_kw: float = 1.5  # |PDU - GPUs - host overhead|: more than a lost GPU, less than a silent idle node

    def placeholders(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in self.__dataclass_fields__}
