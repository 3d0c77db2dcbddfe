"""`pilot verify`: is the live database exactly what the migrations and models say?"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections.abc import Iterator
from itertools import groupby
from typing import Any

from rich.console import Console
from rich.markup import escape

from migration_pilot.cli.commands import EXIT_FINDINGS, EXIT_OK, Streams
from migration_pilot.drift.differences import ERROR, INFO, Difference, VerifyResult

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


_COLOURS = {ERROR: "bold red", "warning": "yellow", INFO: "cyan"}


def reference_line(result: VerifyResult) -> str:
    """Which reference the live database was compared with."""
    if result.reference.startswith("alias:"):
        return f"against database alias {result.reference.removeprefix('alias:')!r}"
    how = {"shadow": "a shadow database built from", "cache": "the cached schema of",
           "state": "the migration state (no shadow database) of",
           "skipped": "(schema comparison skipped) history and models of"}[result.reference]
    return f"against {how} {result.applied} applied migration(s)"


def render_text(result: VerifyResult, *, colour: bool = False) -> str:
    """Header, history and model findings, then schema differences grouped by table, then a summary."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=colour, no_color=not colour, width=110, soft_wrap=True,
                      highlight=False)
    console.print(f"Verified database {result.alias!r} ({result.vendor}, {result.tables} tables)"
                  f" {reference_line(result)} in {result.duration_s:.1f}s.")
    for note in result.notes:
        console.print(f"note: {escape(note)}")
    sections = [("Migration history", result.history), ("Models without migrations", result.models)]
    for title, items in sections:
        if items:
            console.print(f"\n[bold]{title}[/bold]")
            for d in items:
                _item(console, d, indent="  ")
    ordered = sorted(result.differences, key=lambda d: (d.table, d.kind, d.object))
    for table, group in groupby(ordered, key=lambda d: d.table):
        console.print(f"\n[bold]{escape(table or '(database)')}[/bold]")
        for d in group:
            _item(console, d, indent="  ")
    console.print("\n" + summary_line(result))
    return buffer.getvalue()


def _item(console: Console, d: Difference, *, indent: str) -> None:
    style = _COLOURS.get(d.severity, "")
    console.print(f"{indent}[{style}]{d.severity}[/{style}] {d.kind}: {escape(d.object)}")
    pad = indent + "    "
    if d.expected or d.actual:
        console.print(f"{pad}expected: {escape(d.expected)}")
        console.print(f"{pad}actual:   {escape(d.actual)}")
    if d.cause:
        console.print(f"{pad}cause: {escape(d.cause)}")
    if d.fix:
        fix = d.fix.replace("\n", "\n" + pad + "  ")
        console.print(f"{pad}fix:   {escape(fix)}")


def summary_line(result: VerifyResult) -> str:
    """'Clean: ...' or 'Found N differences (...)'."""
    findings = [d for d in result.findings if d.severity != INFO]
    if not findings:
        extra = len(result.findings)
        return "Clean: the database matches the migrations and models." + (
            f" ({extra} informational note(s).)" if extra else "")
    counts = {s: sum(1 for d in findings if d.severity == s) for s in (ERROR, "warning")}
    parts = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
    noun = "difference" if len(findings) == 1 else "differences"
    return f"Found {len(findings)} {noun} ({parts})."


def render_json(result: VerifyResult) -> dict[str, Any]:
    """A JSON-ready dict: the run's facts and every difference with kind, table, object, cause and fix."""
    return {
        "alias": result.alias, "vendor": result.vendor, "reference": result.reference, "cached": result.cached,
        "clean": result.clean, "applied_migrations": result.applied, "tables": result.tables,
        "duration_s": round(result.duration_s, 3), "cache_path": result.cache_path, "notes": list(result.notes),
        "differences": [
            {"section": d.section, "kind": d.kind, "table": d.table, "object": d.object, "expected": d.expected,
             "actual": d.actual, "cause": d.cause, "fix": d.fix, "severity": d.severity}
            for d in result.findings
        ],
    }
