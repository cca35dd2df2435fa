"""Alert rules as code: what each rule measures, when it fires, who it wakes.

Every rule is one table-format SQL query (`dashboards/queries/alerts/<name>.sql`) that
returns string label columns and exactly one numeric column, `value`, already filtered to
the breaching rows (so Grafana handles a few instances, not 200,000), plus a math condition
on that value with the same threshold. The SQL buckets time explicitly (minute rollups,
per-second power) and uses no dashboard variables: Grafana evaluates alert queries on the
server, where there are none. `gpufleet alerts check` runs the same SQL and condition.
"""

from __future__ import annotations

from typing import Any

from dashboards.config import DATASOURCE_REF, DATASOURCE_UID, EXPR_UID, FOLDER_UID, ORG_ID, PLUGIN_VERSION, AlertThresholds
from dashboards.facility_alerts import FACILITY_RULES
from dashboards.rule import AlertRule
from dashboards.sql import alert_sql

__all__ = ["RULES", "AlertRule", "Json", "groups", "rule_model"]  # AlertRule lives in dashboards/rule.py

Json = dict[str, Any]

_GPU = "{{ $labels.cluster }}/{{ $labels.node }} GPU {{ $labels.gpu }}"
_NODE = "{{ $labels.cluster }}/{{ $labels.node }}"
_DRAIN = "Drain the node in the scheduler before touching the GPU; running jobs checkpoint and move."

RULES: tuple[AlertRule, ...] = (
    AlertRule(
        "gpufleet-gpu-temp-warning",
        "GPU temperature high",
        "gpu-thermal",
        "warning",
        "gpu",
        ">=",
        "gpu_temp_warn_c",
        180,
        "2m",
        f"{_GPU} at {{{{ $values.A }}}} °C",
        "Check the node's coolant flow and inlet temperature (CDU panel); compare with rack neighbours on the Thermal dashboard. "
        "A whole rack warming points at its CDU, a single GPU at its cold plate or thermal interface.",
    ),
    AlertRule(
        "gpufleet-gpu-temp-critical",
        "GPU at its slowdown temperature",
        "gpu-thermal",
        "critical",
        "gpu",
        ">=",
        "0",
        180,
        "1m",
        f"{_GPU} is {{{{ $values.A }}}} °C past its slowdown threshold",
        "Hardware thermal slowdown is active (clocks halved); shutdown follows 3 °C higher. "
        f"{_DRAIN} Then check coolant flow and the cold plate.",
    ),
    AlertRule(
        "gpufleet-hbm-temp-warning",
        "HBM temperature high",
        "gpu-thermal",
        "warning",
        "gpu",
        ">=",
        "hbm_temp_warn_c",
        180,
        "2m",
        f"{_GPU} HBM at {{{{ $values.A }}}} °C",
        "HBM runs ~10 °C above the core; 95 °C is its max operating temperature. Check cooling as for GPU temperature.",
    ),
    AlertRule(
        "gpufleet-hbm-temp-critical",
        "HBM at max operating temperature",
        "gpu-thermal",
        "critical",
        "gpu",
        ">=",
        "hbm_temp_crit_c",
        180,
        "1m",
        f"{_GPU} HBM at {{{{ $values.A }}}} °C",
        f"HBM above its max operating temperature risks uncorrectable ECC errors. {_DRAIN}",
    ),
    AlertRule(
        "gpufleet-thermal-throttle",
        "Sustained thermal throttling",
        "gpu-thermal",
        "warning",
        "gpu",
        ">=",
        "thermal_throttle_min_pct",
        300,
        "5m",
        f"{_GPU} thermally throttled {{{{ $values.A }}}} % of the last 5 minutes",
        "The GPU runs slowed by temperature and drags its job. Check cooling; "
        "if only this GPU, reseat or replace its thermal interface.",
    ),
    AlertRule(
        "gpufleet-power-brake",
        "Hardware power brake",
        "gpu-power",
        "critical",
        "gpu",
        ">=",
        "power_brake_min_samples",
        180,
        "0s",
        f"{_GPU} power brake asserted in {{{{ $values.A }}}} samples",
        "The board's power-brake input pinned clocks (~40 %). Usually the node's PSUs or the rack's power shelf: "
        "check PSU status "
        "and facility power for the rack; the GPUs themselves are fine.",
    ),
    AlertRule(
        "gpufleet-ecc-uncorrectable",
        "Uncorrectable ECC errors",
        "gpu-memory",
        "critical",
        "gpu",
        ">",
        "0",
        3600,
        "0s",
        f"{_GPU}: {{{{ $values.A }}}} new uncorrectable ECC errors",
        "Data on this GPU may be corrupt: the job on it should restart from a checkpoint. "
        f"{_DRAIN} Reset the GPU to apply row remapping.",
    ),
    AlertRule(
        "gpufleet-row-remap-pending",
        "Row remap pending",
        "gpu-memory",
        "warning",
        "gpu",
        ">",
        "0",
        600,
        "0s",
        f"{_GPU} has a row remap pending",
        f"A GPU reset applies the pending remap. {_DRAIN} "
        "Then `nvidia-smi -r -i <gpu>` and check `nvidia-smi -q -d ROW_REMAPPER`.",
    ),
    AlertRule(
        "gpufleet-row-remap-failure",
        "Row remap failure",
        "gpu-memory",
        "critical",
        "gpu",
        ">",
        "0",
        600,
        "0s",
        f"{_GPU} row remapping failed",
        "The GPU has no spare rows left for its bank: it cannot heal memory errors any more. "
        f"{_DRAIN} Run field diagnostics and open an RMA.",
    ),
    AlertRule(
        "gpufleet-fatal-xid",
        "Fatal XID",
        "gpu-health",
        "critical",
        "gpu",
        ">",
        "0",
        3600,
        "0s",
        f"{_GPU}: fatal XID {{{{ $labels.xid }}}} in a burst since {{{{ $labels.burst }}}} ({{{{ $values.A }}}} XIDs)",
        f"Look up the XID on the Reliability dashboard for NVIDIA's recommended action (reset GPU, reboot node, RMA). {_DRAIN}",
    ),
    AlertRule(
        "gpufleet-gpu-stalled",
        "GPU stalled",
        "gpu-health",
        "critical",
        "gpu",
        ">=",
        "stall_min_samples",
        300,
        "0s",
        f"{_GPU} reads 100 % busy with its SMs idle for {{{{ $values.A }}}} samples",
        "utilization.gpu >= 90 % while GPM SM activity <= 5 %: a hung kernel or a collective waiting on a peer. "
        "Check the job's other ranks (a straggler or a lost GPU elsewhere usually explains it), then py-spy/cuda-gdb "
        "the process on this GPU (Processes panel); restart the job if it does not progress.",
    ),
    AlertRule(
        "gpufleet-gpu-needs-recovery",
        "GPU needs recovery",
        "gpu-health",
        "critical",
        "gpu",
        ">",
        "0",
        3600,
        "0s",
        f"{_GPU}: driver asks for {{{{ $labels.recovery_action }}}}: {{{{ $labels.step }}}}",
        "NVML's recovery action (field 230) says what the driver needs: GPU_RESET / DRAIN_AND_RESET / BUS_RESET: "
        "drain the GPU's jobs and reset it; NODE_REBOOT / SYSTEM_REBOOT: drain the node and reboot it; "
        f"DRAIN_P2P: stop peer-to-peer work and let jobs finish; RECOVER_IMEX_DOMAIN: restart the IMEX daemons. {_DRAIN}",
    ),
    AlertRule(
        "gpufleet-gpu-lost",
        "GPU lost",
        "gpu-health",
        "critical",
        "gpu",
        ">",
        "0",
        3600,
        "0s",
        f"{_GPU} fell off the bus",
        "The GPU no longer answers (XID 79 / GPU_IS_LOST). Drain the node and reboot it; "
        "if the GPU stays lost, reseat or replace it.",
    ),
    AlertRule(
        "gpufleet-collector-silent",
        "Collector silent",
        "node-health",
        "critical",
        "node",
        ">",
        "node_stale_s",
        300,
        "1m",
        f"{_NODE} sent nothing for {{{{ $values.A }}}} s while its cluster reports",
        "The node is down or its collector stopped. Check BMC power state and `systemctl status gpufleet-collect` on the node.",
    ),
    AlertRule(
        "gpufleet-gpus-missing",
        "GPUs missing versus inventory",
        "node-health",
        "critical",
        "node",
        ">",
        "0",
        300,
        "1m",
        f"{_NODE}: {{{{ $values.A }}}} GPUs in its inventory stopped reporting",
        "A GPU fell off the bus or NVML lost it while the node's collector runs. "
        "Compare `nvidia-smi -L` with the inventory; drain and reboot.",
    ),
    AlertRule(
        "gpufleet-straggler",
        "Straggler GPU",
        "gpu-performance",
        "warning",
        "gpu",
        "<",
        "straggler_clock_pct",
        600,
        "10m",
        f"{_GPU} runs at {{{{ $values.A }}}} % of its node's median SM clock with no throttle reason",
        "A slow GPU stalls every synchronous job step. Check clocks and application clocks (`nvidia-smi -q -d CLOCK`), "
        "then run a DCGM diagnostic; replace if it stays slow.",
    ),
    AlertRule(
        "gpufleet-power-swing",
        "Fleet power swing",
        "fleet-power",
        "warning",
        "cluster",
        ">",
        "power_ramp_mw_per_s",
        300,
        "0s",
        "{{ $labels.cluster }} power ramped {{ $values.A }} MW/s",
        "Whole jobs starting, stopping or checkpointing together move tens of MW in seconds. Tell the facility team; "
        "ask the job owners to stagger checkpoints or enable a power floor.",
    ),
    AlertRule(
        "gpufleet-ingest-lag",
        "Ingest lag",
        "pipeline",
        "critical",
        "cluster",
        ">",
        "ingest_lag_s",
        600,
        "2m",
        "{{ $labels.cluster }}: newest stored sample is {{ $values.A }} s old",
        "Samples are not reaching ClickHouse. Check the ingest consumers (`gpufleet ingest` logs, consumer-group lag in Kafka) "
        "and ClickHouse insert errors.",
    ),
    AlertRule(
        "gpufleet-dead-letters",
        "Dead letters growing",
        "pipeline",
        "warning",
        "source",
        ">=",
        "dead_letters_min",
        600,
        "0s",
        "{{ $values.A }} dead letters from {{ $labels.source_name }} in 10 minutes",
        "Messages failed to decode or validate. Read the reasons on the Pipeline dashboard; a new collector version or "
        "schema usually explains them.",
    ),
    *FACILITY_RULES,  # coolant, flow and rack power (dashboards/facility_alerts.py)
)


def rule_model(rule: AlertRule, thresholds: AlertThresholds, folder_uid: str = FOLDER_UID) -> Json:
    """The rule in Grafana's alerting provisioning format (file and HTTP API share it)."""
    query = {
        "refId": "A",
        "datasource": dict(DATASOURCE_REF),
        "editorType": "sql",
        "queryType": "table",
        "format": 1,
        "pluginVersion": PLUGIN_VERSION,
        "rawSql": rule.sql(thresholds),
        "intervalMs": 1000,
        "maxDataPoints": 43200,
    }
    condition = {
        "refId": "C",
        "datasource": {"type": EXPR_UID, "uid": EXPR_UID},
        "type": "math",
        "expression": rule.condition(thresholds),
    }
    return {
        "uid": rule.uid,
        "title": rule.title,
        "orgID": ORG_ID,
        "folderUID": folder_uid,
        "ruleGroup": rule.group,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": rule.window_s, "to": 0},
                "datasourceUid": DATASOURCE_UID,
                "model": query,
            },
            {"refId": "C", "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": EXPR_UID, "model": condition},
        ],
        "noDataState": "OK",  # the query returns only breaching rows: nothing back means healthy
        "execErrState": "Error",
        "for": rule.pending,
        "labels": {"severity": rule.severity, "team": "gpu-ops", "scope": rule.scope},
        "annotations": {
            "summary": rule.summary,
            "runbook": rule.runbook,
            "description": alert_sql(rule.sql_name).description,
        },
        "isPaused": False,
    }


def groups(thresholds: AlertThresholds, folder_uid: str = FOLDER_UID) -> dict[str, list[Json]]:
    """Rules by group name, in declaration order."""
    out: dict[str, list[Json]] = {}
    for rule in RULES:
        out.setdefault(rule.group, []).append(rule_model(rule, thresholds, folder_uid))
    return out
