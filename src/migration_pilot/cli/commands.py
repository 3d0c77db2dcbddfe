"""The `pilot` subcommands: discovery and the pieces they share.

Each subcommand is a module in `cli/subcommands/` defining NAME, HELP,
`add_arguments(parser)` and `run(options, streams) -> exit code`. Both
`manage.py pilot` and the `migration-pilot` console script use this registry,
so they accept the same flags and print the same output.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


@dataclass(frozen=True, slots=True)
class Streams:
    """Where a subcommand writes, and whether stdout is a terminal (for colour and progress)."""

    out: TextIO
    err: TextIO
    colour: bool = False


Runner = Callable[[dict[str, Any], Streams], int]


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One `pilot` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Runner


@functools.cache
def subcommands() -> dict[str, Subcommand]:
    """Every module in cli/subcommands, by name, in a stable order."""
    from migration_pilot.cli import subcommands as package

    found: dict[str, Subcommand] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found[module.NAME] = Subcommand(module.NAME, module.HELP, module.add_arguments, module.run)
    return found


def split_list(value: str) -> list[str]:
    """'a, b c' -> ['a', 'b', 'c'] for comma- or space-separated flag values."""
    return [part for part in value.replace(" ", ",").split(",") if part]
