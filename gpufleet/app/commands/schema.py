"""`gpufleet schema export`: the wire schema as JSON Schema, for non-Python producers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gpufleet.app.commands.common import OneLineParser
from gpufleet.contract.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schema = sub.add_parser("schema", help="wire schema tools")
    schema_sub = schema.add_subparsers(dest="schema_command", required=True, parser_class=OneLineParser)
    export = schema_sub.add_parser("export", help="write the JSON Schema of every wire message")
    export.add_argument("--out", type=Path, default=Path("docs/schema"), metavar="DIR", help="(default: %(default)s)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gpufleet.contract.schema import WIRE_MODELS

    args.out.mkdir(parents=True, exist_ok=True)
    for schema_id, model in WIRE_MODELS.items():
        path = args.out / (schema_id.replace("gpufleet.", "").replace("/", ".v") + ".json")
        path.write_text(json.dumps(model.model_json_schema(by_alias=True), indent=2) + "\n", encoding="utf-8")
        print(path)
    return 0
