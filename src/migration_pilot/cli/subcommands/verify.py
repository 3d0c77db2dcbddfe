"""`pilot verify`: is the live database exactly what the migrations and models say?"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from typing import Any

from migration_pilot.cli.commands import EXIT_FINDINGS, EXIT_OK, Streams

NAME = "verify"
HELP = ("Compare the live schema with the schema the applied migrations produce (built in a scratch"
        " database), check the migration history and the models; list every difference with its cause"
        " and fix. Exit 0 clean, 1 drift, 2 error.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot verify`."""
    parser.add_argument("--database", default="default", help="Database alias to verify.")
    parser.add_argument("--against", metavar="OTHER_ALIAS",
                        help="Compare with another live database of the same engine instead of the migrations.")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")
    parser.add_argument("--no-cache", action="store_true",
                        help="Rebuild the reference schema even if a cached one matches the migrations.")
    parser.add_argument("--strict-names", action="store_true",
                        help="Also report indexes and constraints that differ only by name.")
    parser.add_argument("--prepare", action="store_true",
                        help="Only build and cache the reference schema of every migration on disk (run it in the"
                             " build step; the deploy's verify stage then reads it instead of building it).")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Verify, render, exit 1 when anything above info level was found."""
    from migration_pilot.cli.verify_output import render_json, render_text
    from migration_pilot.drift import prepare_reference, verify

    if options.get("prepare"):
        with _progress(streams) as progress:
            path, already = prepare_reference(options.get("database") or "default", progress=progress)
        streams.out.write(("Reference schema already cached: " if already else "Reference schema cached: ")
                          + path + "\n")
        return EXIT_OK
    with _progress(streams) as progress:
        result = verify(options.get("database") or "default", against=options.get("against"),
                        use_cache=not options.get("no_cache"), strict_names=bool(options.get("strict_names")),
                        progress=progress)
    if options.get("output_format") == "json":
        streams.out.write(json.dumps(render_json(result), indent=2) + "\n")
    else:
        streams.out.write(render_text(result, colour=streams.colour))
    return EXIT_OK if result.clean else EXIT_FINDINGS


@contextlib.contextmanager
def _progress(streams: Streams) -> Iterator[Any]:
    """A rich progress bar on a terminal while the shadow database is built; nothing otherwise."""
    if not streams.colour:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=streams.err)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("Building the shadow database", total=None)

        def report(stage: str, done: int, total: int, label: str) -> None:
            words = {"create": f"Creating {label}", "migrate": f"Applying {label}",
                     "read": "Reading the shadow catalog", "drop": f"Dropping {label}"}
            bar.update(task, description=words.get(stage, stage), completed=done,
                       total=total if stage == "migrate" else None)

        yield report
