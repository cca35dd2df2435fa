"""`gpufleet kafka topics [--create]`: the project's topics, as specified and as they are."""

from __future__ import annotations

import argparse

from gpufleet.contract.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("kafka", help="Kafka administration")
    kafka_sub = p.add_subparsers(dest="kafka_command", required=True)
    topics = kafka_sub.add_parser("topics", help="list gpufleet's topics; --create makes the missing ones")
    topics.add_argument("--kafka", metavar="BOOTSTRAP", help="host:port[,...] (default: GPUFLEET_KAFKA__BOOTSTRAP)")
    topics.add_argument("--create", action="store_true", help="create missing topics with their partitions and configs")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.kafka.topics import create_topics, topic_specs

    created = set(create_topics(settings.kafka, args.kafka)) if args.create else set()
    for spec in topic_specs(settings.kafka):
        configs = ",".join(f"{k}={v}" for k, v in spec.configs.items())
        state = "created" if spec.name in created else ("exists" if args.create else "spec")
        print(
            f"{spec.name}\t{state}\tpartitions={spec.partitions}\treplicas={spec.replication_factor}\tkey={spec.key}\t{configs}"
        )
    return 0
