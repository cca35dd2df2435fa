"""Kafka connection settings: security passes through from the environment, never from flags."""

from __future__ import annotations

import pytest

from gpufleet.contract.errors import ConfigError
from gpufleet.contract.settings import load_settings
from pipeline.kafka.config import client_config
from pipeline.kafka.topics import DEADLETTER, INVENTORY, SAMPLES, topic_specs


def test_sasl_ssl_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "GPUFLEET_KAFKA__BOOTSTRAP": "k1:9093, k2:9093",
        "GPUFLEET_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "GPUFLEET_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "GPUFLEET_KAFKA__SASL_USERNAME": "ingest",
        "GPUFLEET_KAFKA__SASL_PASSWORD": "s3cret",
        "GPUFLEET_KAFKA__SSL_CAFILE": "/etc/kafka/ca.pem",
    }.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert "s3cret" not in repr(settings)  # a SecretStr: never printed by accident
    config = client_config(settings.kafka)
    assert config["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert config["security_protocol"] == "SASL_SSL" and config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert config["sasl_plain_username"] == "ingest" and config["sasl_plain_password"] == "s3cret"
    assert config["ssl_cafile"] == "/etc/kafka/ca.pem" and config["ssl_check_hostname"] is True
    assert client_config(settings.kafka, "override:9092")["bootstrap_servers"] == ["override:9092"]


def test_sasl_without_mechanism_or_credentials_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPUFLEET_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    with pytest.raises(ConfigError, match="SASL_MECHANISM"):
        client_config(load_settings().kafka, "k:9092")
    monkeypatch.setenv("GPUFLEET_KAFKA__SASL_MECHANISM", "PLAIN")
    with pytest.raises(ConfigError, match="SASL_USERNAME"):
        client_config(load_settings().kafka, "k:9092")


def test_no_bootstrap_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPUFLEET_KAFKA__BOOTSTRAP", raising=False)
    with pytest.raises(ConfigError, match="--kafka"):
        client_config(load_settings().kafka)


def test_topics_have_explicit_partitions_retention_and_compaction() -> None:
    specs = {s.name: s for s in topic_specs(load_settings().kafka)}
    assert specs[SAMPLES].configs["cleanup.policy"] == "delete" and specs[SAMPLES].configs["retention.ms"] == str(72 * 3_600_000)
    assert specs[INVENTORY].configs["cleanup.policy"] == "compact"
    assert int(specs[DEADLETTER].configs["retention.ms"]) > int(specs[SAMPLES].configs["retention.ms"])
    assert all(s.partitions >= 1 and s.replication_factor >= 1 for s in specs.values())


def test_min_insync_replicas_above_the_replication_factor_is_refused_by_name() -> None:
    settings = load_settings().kafka.model_copy(update={"replication_factor": 2, "min_insync_replicas": 3})
    with pytest.raises(ConfigError, match="GPUFLEET_KAFKA__MIN_INSYNC_REPLICAS=3"):
        topic_specs(settings)
    defaults = {s.name: s for s in topic_specs(load_settings().kafka)}
    assert {(s.replication_factor, s.configs["min.insync.replicas"]) for s in defaults.values()} == {(3, "2")}
