"""CLI conventions: --version, shell completion from the parser, one --format spelling."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from importlib.metadata import version

import pytest

from gpufleet.app.cli import _commands, build_parser, main

DATA_COMMANDS = {("sql",), ("alerts", "check"), ("demo",), ("emit",), ("collect",), ("bridge", "mqtt")}


def parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    out = {path: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out |= parsers(sub, (*path, name))
    return out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"gpufleet {version('gpufleet')}"


def test_one_format_flag_and_no_json_flag() -> None:
    tree = parsers(build_parser(_commands()))
    for path, parser in tree.items():
        flags = {opt for action in parser._actions for opt in action.option_strings}
        assert "--json" not in flags, f"{' '.join(path)}: use --format json"
        if path in DATA_COMMANDS:
            fmt = next(a for a in parser._actions if "--format" in a.option_strings)
            assert fmt.choices is not None and {"table", "json"} <= set(fmt.choices), path


def test_bash_completion_completes_commands_and_flags(capsys: pytest.CaptureFixture[str]) -> None:
    bash = shutil.which("bash")
    assert bash, "bash is part of every Debian system"
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        program = (
            f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; "
            f"_shtab_gpufleet; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        proc = subprocess.run([bash, "-c", program], capture_output=True, text=True, timeout=30, check=True)
        return proc.stdout.split()

    assert complete("gpufleet", "col") == ["collect"]
    assert complete("gpufleet", "collect", "--metrics-p") == ["--metrics-port"]
    assert "--with-notifications" in complete("gpufleet", "grafana", "export", "--with")
