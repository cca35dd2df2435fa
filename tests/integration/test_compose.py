"""compose.yaml agrees with the project: its commands parse with the real CLI, its ports,
topics, DSNs and the datasource uid match the settings and the exported provisioning, its
secrets come only from .env; and Debian's `docker-compose config` accepts it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from dashboards.config import DATASOURCE_UID
from dashboards.export import provisioning_tree
from gpufleet.app.cli import _commands, build_parser
from gpufleet.contract.settings import KafkaSettings
from pipeline.kafka.topics import topic_specs
from tests.support.cli import REPO
from tests.support.kafka_cluster import KAFKA_VERSION

COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text("utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
GPUFLEET = [name for name, s in SERVICES.items() if s.get("image") == "gpufleet:local"]
ENV_EXAMPLE = dict(
    line.split("=", 1) for line in (REPO / ".env.example").read_text("utf-8").splitlines() if line and not line.startswith("#")
)


def substitute(text: str) -> str:
    """Interpolate `${VAR:?...}` from .env.example, as compose does from .env."""
    return re.sub(r"\$\{(\w+)[^}]*\}", lambda m: ENV_EXAMPLE[m[1]], text)


def env(service: str) -> dict[str, str]:
    return {k: substitute(str(v)) for k, v in (SERVICES[service].get("environment") or {}).items()}


def parse(command: list[str]) -> Any:
    """The gpufleet CLI's own parse of a compose command (fails like the container would)."""
    return build_parser(_commands()).parse_args([substitute(c) for c in command])


def test_every_gpufleet_command_is_a_valid_invocation() -> None:
    assert {"migrate", "kafka-topics", "ingest", "emit", "bridge", "grafana-export"} <= set(GPUFLEET)
    for name in GPUFLEET:
        command = SERVICES[name]["command"]
        if SERVICES[name].get("entrypoint") == ["sh", "-c"]:
            assert command[0].startswith("gpufleet db migrate"), name
        else:
            parse(command)
    assert SERVICES["ingest"]["deploy"]["replicas"] == 2


def test_kafka_bootstrap_topics_and_partitions_agree() -> None:
    kafka = env("kafka")
    advertised = dict(item.split("://") for item in kafka["KAFKA_ADVERTISED_LISTENERS"].split(","))
    for name in GPUFLEET:
        assert env(name).get("GPUFLEET_KAFKA__BOOTSTRAP", advertised["PLAINTEXT"]) == advertised["PLAINTEXT"] == "kafka:9092"
    assert "--kafka" not in SERVICES["ingest"]["command"]
    for name in GPUFLEET:  # a --kafka flag, where a service has one, names the same broker
        command = SERVICES[name]["command"]
        assert "--kafka" not in command or command[command.index("--kafka") + 1] == advertised["PLAINTEXT"], name
    # topics exist only as gpufleet creates them (partitions, retention, compaction)
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert SERVICES["kafka-topics"]["command"] == ["kafka", "topics", "--create"]
    brokers = len(kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
    settings = KafkaSettings(
        replication_factor=int(env("ingest")["GPUFLEET_KAFKA__REPLICATION_FACTOR"]),
        min_insync_replicas=int(env("ingest")["GPUFLEET_KAFKA__MIN_INSYNC_REPLICAS"]),
    )
    specs = {s.name: s for s in topic_specs(settings)}
    assert {"gpufleet.samples.v1", "gpufleet.events.v1", "gpufleet.inventory.v1", "gpufleet.deadletter.v1"} <= set(specs)
    assert all(s.replication_factor <= brokers for s in specs.values())
    assert all(int(s.configs["min.insync.replicas"]) <= s.replication_factor for s in specs.values())
    # the image is the Apache Kafka version the tests run
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert specs["gpufleet.samples.v1"].partitions >= SERVICES["ingest"]["deploy"]["replicas"]  # every consumer gets work
    host_port = advertised["HOST"].rsplit(":", 1)[1]
    assert f"{host_port}:{host_port}" in SERVICES["kafka"]["ports"]


def test_store_dsn_and_grafana_datasource_agree_with_clickhouse() -> None:
    clickhouse = env("clickhouse")
    dsn = urlparse(env("ingest")["GPUFLEET_STORE"])
    assert (dsn.hostname, dsn.port, dsn.path.strip("/")) == ("clickhouse", 8123, clickhouse["CLICKHOUSE_DB"])
    # least privilege: ingest and the bridge as the INSERT-only user migrate creates; only migrate as the admin
    for service in ("ingest", "bridge"):
        writer = urlparse(env(service)["GPUFLEET_STORE"])
        assert writer.username == "gpufleet_ingest" and writer.password == env("migrate")["GPUFLEET_INGEST_PASSWORD"], service
        assert "--migrate" not in SERVICES[service]["command"], service
    admin = urlparse(env("migrate")["GPUFLEET_STORE"])
    assert admin.username == clickhouse["CLICKHOUSE_USER"] and admin.password == clickhouse["CLICKHOUSE_PASSWORD"]
    assert "8123:8123" in SERVICES["clickhouse"]["ports"]
    args = parse(SERVICES["grafana-export"]["command"])
    from dashboards.config import DatasourceConfig

    config = DatasourceConfig(args.clickhouse_host, args.clickhouse_port, username=args.clickhouse_user, database=args.database)
    tree = provisioning_tree(datasource=config, dashboards_path=args.dashboards_path)
    datasource = yaml.safe_load(tree["provisioning/datasources/gpufleet.yaml"])["datasources"][0]
    assert datasource["uid"] == DATASOURCE_UID
    json_data = datasource["jsonData"]
    assert (json_data["host"], json_data["port"], json_data["defaultDatabase"]) == (
        "clickhouse",
        dsn.port,
        clickhouse["CLICKHOUSE_DB"],
    )
    users_sql = (REPO / "storage/sql/server/users.sql").read_text("utf-8")
    assert f"CREATE USER IF NOT EXISTS {json_data['username']} " in users_sql  # the read-only user migrate creates
    # Grafana reads the exported tree where the export job wrote it
    grafana = env("grafana")
    mount = next(v.split(":")[1] for v in SERVICES["grafana"]["volumes"] if v.startswith("grafana-provisioning:"))
    assert f"grafana-provisioning:{args.out}" in SERVICES["grafana-export"]["volumes"]
    assert grafana["GF_PATHS_PROVISIONING"] == f"{mount}/provisioning"
    provider = yaml.safe_load(tree["provisioning/dashboards/gpufleet.yaml"])["providers"][0]
    assert provider["options"]["path"] == f"{mount}/dashboards"
    dashboards_json = (REPO / "tests/golden/grafana/dashboards/gpufleet-overview.json").read_text("utf-8")
    assert DATASOURCE_UID in dashboards_json


def test_grafana_version_and_plugin() -> None:
    version = tuple(int(x) for x in SERVICES["grafana"]["image"].split(":")[1].split("."))
    assert version >= (11, 6, 0)
    assert "GF_INSTALL_PLUGINS" not in env("grafana"), "deprecated: GF_PLUGINS_PREINSTALL_SYNC"
    plugin, plugin_version = env("grafana")["GF_PLUGINS_PREINSTALL_SYNC"].split("@")
    assert plugin == "grafana-clickhouse-datasource" and tuple(int(x) for x in plugin_version.split(".")) >= (4, 15, 0)


def test_clickhouse_server_is_at_least_the_embedded_engine() -> None:
    # its own process: chDB holds one engine per process, perhaps already on another data path
    code = "import chdb; print(chdb.query('SELECT version()', 'CSV').data())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    engine = proc.stdout.strip().strip('"')
    server = SERVICES["clickhouse"]["image"].split(":")[1]
    assert tuple(int(x) for x in server.split(".")) >= tuple(int(x) for x in engine.split(".")[:2]), (server, engine)


def test_health_checks_and_metrics_ports() -> None:
    for name in ("kafka", "clickhouse", "grafana", "mosquitto", "ingest", "emit"):
        assert SERVICES[name]["healthcheck"]["test"], name
    for name in ("ingest", "emit"):
        command = SERVICES[name]["command"]
        port = command[command.index("--metrics-port") + 1]
        assert f"127.0.0.1:{port}/metrics" in " ".join(SERVICES[name]["healthcheck"]["test"]), name
    mqtt = urlparse(SERVICES["bridge"]["command"][SERVICES["bridge"]["command"].index("--mqtt") + 1])
    assert (mqtt.hostname, mqtt.port) == ("mosquitto", 1883) and "1883:1883" in SERVICES["mosquitto"]["ports"]
    assert "listener 1883" in (REPO / "deploy/mosquitto/mosquitto.conf").read_text("utf-8")


def test_secrets_only_from_the_env_file() -> None:
    text = (REPO / "compose.yaml").read_text("utf-8")
    referenced = set(re.findall(r"\$\{(\w+)", text))
    assert referenced == set(ENV_EXAMPLE), "every variable compose uses is documented in .env.example, and only those"
    for name in referenced:
        assert re.search(r"\$\{" + name + r":\?", text), f"{name} must be required (${{{name}:?...}}), not defaulted"
    for service in SERVICES.values():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or "STORE" in key:
                assert "${" in str(value), f"{key} is baked into compose.yaml"
    assert ".env" in (REPO / ".gitignore").read_text("utf-8").split()


def _compose_cli() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    pytest.fail("docker-compose is missing: run scripts/install-test-services (Debian's docker-compose)")


def test_docker_compose_config_accepts_it(tmp_path: Path) -> None:
    cli = _compose_cli()
    ok = subprocess.run(
        [*cli, "-f", "compose.yaml", "--env-file", ".env.example", "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    empty = tmp_path / "empty.env"
    empty.write_text("")
    missing = subprocess.run(
        [*cli, "-f", "compose.yaml", "--env-file", str(empty), "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode != 0 and "set it in .env" in missing.stderr  # no secret has a default
