"""`gpufleet completion bash|zsh|tcsh`: a shell completion script for every command and flag.

Generated from the same argparse tree the CLI parses with (shtab), so it cannot fall
behind a new flag. Install: `gpufleet completion bash > /etc/bash_completion.d/gpufleet`
(or `~/.local/share/bash-completion/completions/gpufleet`); zsh: a file named `_gpufleet`
on `$fpath`.
"""

from __future__ import annotations

import argparse

from gpufleet.contract.settings import Settings

SHELLS = ("bash", "zsh", "tcsh")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("completion", help="print a shell completion script (bash, zsh, tcsh)")
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace, settings: Settings) -> int:
    import shtab

    from gpufleet.app.cli import _commands, build_parser

    print(shtab.complete(build_parser(_commands()), shell=args.shell), end="")
    return 0
