"""The `gpufleet` command line.

Every subcommand runs the same sequence: parse flags, load settings, validate, build the
parts from their registries, run. Subcommands live in `gpufleet/app/commands/`, one module
each, listed in `COMMAND_MODULES`. Only `main` catches `GpufleetError`: it prints one line
on stderr and returns the error's exit code (2 for bad input or configuration).
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import io
import signal
import sys
from collections.abc import Callable, Sequence
from typing import cast

from gpufleet.app.commands import COMMAND_MODULES
from gpufleet.app.commands.common import Command, OneLineParser
from gpufleet.app.extras import missing_extra_message
from gpufleet.app.logs import configure as configure_logging
from gpufleet.contract.errors import GpufleetError
from gpufleet.contract.settings import load_settings


def _commands() -> dict[str, Command]:
    return {name: cast(Command, importlib.import_module(module)) for name, module in COMMAND_MODULES.items()}


def version() -> str:
    """The installed distribution's version (what `pip show gpufleet` says)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("gpufleet")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    parser = OneLineParser(prog="gpufleet", description="GPU fleet telemetry: NVML → Kafka → ClickHouse → Grafana.")
    parser.add_argument("--version", action="version", version=f"gpufleet {version()}")
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(
        dest="command", required=True, parser_class=OneLineParser
    )
    for command in commands.values():
        command.register(sub)
    return parser


def dump_stacks_on_sigusr1() -> bool:
    """`kill -USR1 <pid>` writes every thread's stack to stderr and the process carries on:
    how to see where a running collector or ingest is waiting (a broker call, a store
    insert) without stopping it. False where the platform has no SIGUSR1 or stderr is not a
    file (`main` called in a process that captured it, as a test runner does)."""
    if not hasattr(signal, "SIGUSR1"):
        return False
    try:
        faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
    except (AttributeError, ValueError, io.UnsupportedOperation):  # no file descriptor behind sys.stderr
        return False
    return True


def also_on_sigusr1(callback: Callable[[], None]) -> bool:
    """After the stacks, `kill -USR1` also runs `callback` on the main thread (a long-running
    command's own state: ingest's partitions). faulthandler writes the stacks from the signal
    itself, so they come even while the main thread is stuck in a C call; the callback runs
    once the main thread next runs Python. False where the stacks cannot be written (no
    SIGUSR1, not the main thread, stderr not a file); the callback then runs alone if it could
    be installed."""
    if not hasattr(signal, "SIGUSR1"):
        return False

    def handler(_signum: int, _frame: object) -> None:
        try:
            callback()
        except Exception as exc:  # raised here it would surface in whatever the main thread was doing
            print(f"gpufleet: SIGUSR1 state dump failed: {exc!r}", file=sys.stderr)

    # unregister first: it puts back the handler faulthandler found, which would undo ours
    faulthandler.unregister(signal.SIGUSR1)
    try:
        signal.signal(signal.SIGUSR1, handler)
    except ValueError:  # not the main thread
        dump_stacks_on_sigusr1()
        return False
    try:
        faulthandler.register(signal.SIGUSR1, all_threads=True, chain=True)
    except (AttributeError, ValueError, io.UnsupportedOperation):  # no file behind sys.stderr: the callback alone
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    dump_stacks_on_sigusr1()
    commands = _commands()
    args = build_parser(commands).parse_args(argv)
    try:
        settings = load_settings(store=getattr(args, "store", None))
        configure_logging(settings.log_level)
        return commands[args.command].run(args, settings)
    except GpufleetError as exc:
        print(f"gpufleet: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        hint = missing_extra_message(exc)
        if hint is None:
            raise
        print(f"gpufleet: error: {hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
