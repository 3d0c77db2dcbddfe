"""Text and JSON rendering of a `pilot verify` result (kept apart so the CLI starts fast)."""

from __future__ import annotations

import io
from itertools import groupby
from typing import Any

from rich.console import Console
from rich.markup import escape

from migration_pilot.drift.differences import ERROR, INFO, Difference, VerifyResult

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
            for alike in _alike(items):
                if len(alike) < 3:
                    for d in alike:
                        _item(console, d, indent="  ")
                else:  # 19 unapplied migrations are one finding with 19 names, not 19 blocks
                    first = alike[0]
                    names = ", ".join(d.object for d in alike)
                    fix = first.fix if len({d.fix for d in alike}) == 1 else _GROUP_FIX.get(
                        first.kind, "each one's fix is in --format json")
                    _item(console, Difference(first.kind, first.table, f"{len(alike)} x: {names}", "", "",
                                              first.cause, fix, first.severity, first.section), indent="  ")
    ordered = sorted(result.differences, key=lambda d: (d.table, d.kind, d.object))
    for table, group in groupby(ordered, key=lambda d: d.table):
        console.print(f"\n[bold]{escape(table or '(database)')}[/bold]")
        for d in group:
            _item(console, d, indent="  ")
    console.print("\n" + summary_line(result))
    return buffer.getvalue()


_GROUP_FIX = {"unapplied_migration": "python manage.py pilot deploy applies them (or: python manage.py migrate)."}


def _alike(items: tuple[Difference, ...]) -> list[list[Difference]]:
    """Items in order, those of one kind with the same cause and expected/actual together."""
    groups: dict[tuple[str, str, str, str, str], list[Difference]] = {}
    order: list[list[Difference]] = []
    for d in items:
        key = (d.kind, d.severity, d.cause, d.expected, d.actual)
        if key not in groups:
            groups[key] = []
            order.append(groups[key])
        groups[key].append(d)
    return order


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
