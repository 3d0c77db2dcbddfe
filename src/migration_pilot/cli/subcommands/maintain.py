"""`pilot maintain`: ANALYZE, VACUUM and REINDEX CONCURRENTLY for the tables recent deploys touched."""

from __future__ import annotations

import argparse
import json
from typing import Any

from migration_pilot.cli.commands import EXIT_FINDINGS, EXIT_OK, Streams

NAME = "maintain"
HELP = ("After a deploy: fresh statistics and repairs for the tables it touched (PostgreSQL ANALYZE,"
        " VACUUM (ANALYZE) over a dead-tuple threshold, REINDEX INDEX CONCURRENTLY of INVALID indexes;"
        " MySQL ANALYZE TABLE; SQLite ANALYZE). Nothing that blocks traffic without --allow-blocking.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot maintain`."""
    parser.add_argument("--database", default="default", help="Database alias.")
    parser.add_argument("--since-run", type=int, metavar="ID",
                        help="Tables of every successful deploy from run ID on (see 'pilot history');"
                        " default: the last successful deploy that applied migrations.")
    parser.add_argument("--table", action="append", default=[], dest="tables", metavar="TABLE",
                        help="Maintain this table instead (repeatable; the database table name).")
    parser.add_argument("--dead-tuple-ratio", type=float, default=None, metavar="RATIO",
                        help="PostgreSQL: VACUUM (ANALYZE) tables whose dead tuples exceed this share of all"
                        " tuples (default 0.1).")
    parser.add_argument("--no-analyze", dest="analyze", action="store_false",
                        help="Skip ANALYZE (PostgreSQL still vacuums and reindexes where needed).")
    parser.add_argument("--vacuum", action="store_true",
                        help="Give space back: SQLite VACUUM, MySQL OPTIMIZE TABLE, PostgreSQL VACUUM FULL over"
                        " the threshold. All block traffic: needs --allow-blocking.")
    parser.add_argument("--allow-blocking", action="store_true",
                        help="Allow statements that block reads or writes while they run.")
    parser.add_argument("--dry-run", action="store_true", help="Print the report and the statements; run nothing.")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Report, then run the statements (unless --dry-run); exit 1 when one failed."""
    from migration_pilot.exceptions import ConfigError
    from migration_pilot.maintain import (
        DEFAULT_DEAD_TUPLE_RATIO,
        check_privileges,
        inspect_tables,
        plan_actions,
        refuse_blocking,
        resolve_targets,
        run_actions,
    )
    from migration_pilot.pipeline.preflight import connect

    ratio = options.get("dead_tuple_ratio")
    ratio = DEFAULT_DEAD_TUPLE_RATIO if ratio is None else ratio
    if not 0 <= ratio <= 1:
        raise ConfigError(f"Bad --dead-tuple-ratio {ratio}: give a share between 0 and 1, such as 0.1",
                          source="--dead-tuple-ratio")
    if options.get("since_run") is not None and options.get("tables"):
        raise ConfigError("Give --since-run or --table, not both", source="--since-run/--table")
    connection = connect(options.get("database") or "default")
    if not options.get("tables"):
        from migration_pilot.pipeline import history

        history.require_app()
    targets = resolve_targets(connection.alias, since_run=options.get("since_run"),
                              tables=options.get("tables") or ())
    inspection = inspect_tables(connection, targets.tables)
    actions = plan_actions(connection, inspection, analyze=options.get("analyze", True),
                           vacuum=bool(options.get("vacuum")), dead_tuple_ratio=ratio)
    as_json = options.get("output_format") == "json"
    if not as_json:
        streams.out.write(_report(connection, targets, inspection, actions, dry_run=bool(options.get("dry_run"))))
    if options.get("dry_run"):
        if as_json:
            streams.out.write(json.dumps(_payload(connection, targets, inspection, actions, []), indent=2) + "\n")
        return EXIT_OK
    refuse_blocking(actions, allow_blocking=bool(options.get("allow_blocking")))
    check_privileges(connection, actions)
    with _Progress(streams, len(actions), quiet=as_json) as progress:
        results = run_actions(connection, actions, progress)
    failed = [r for r in results if not r.ok]
    if as_json:
        streams.out.write(json.dumps(_payload(connection, targets, inspection, actions, results), indent=2) + "\n")
    else:
        for result in failed:
            streams.out.write(f"Failed: {result.action.sql}: {result.error}\n")
        streams.out.write(f"Ran {len(results) - len(failed)} of {len(results)} statement(s) on"
                          f" {connection.alias}" + (f"; {len(failed)} failed.\n" if failed else ".\n"))
    return EXIT_FINDINGS if failed else EXIT_OK


def _report(connection: Any, targets: Any, inspection: Any, actions: Any, *, dry_run: bool) -> str:
    from migration_pilot.cli.subcommands.backup import human_size

    lines = []
    source = (f"deploy(s) #{', #'.join(map(str, targets.runs))} ({len(targets.migrations)} migration(s))"
              if targets.runs else "--table")
    lines.append(f"Tables from {source} on {connection.alias} ({connection.vendor}):")
    rows = [("TABLE", "SIZE", "LIVE", "DEAD", "DEAD %", "EST. BLOAT")]
    for s in inspection.tables:
        rows.append((s.table, _size(s.size_bytes, human_size), _num(s.live_tuples), _num(s.dead_tuples),
                     f"{s.dead_ratio:.0%}" if s.dead_tuples is not None else "-", _size(s.bloat_bytes, human_size)))
    if len(rows) == 1:
        lines.append("  (no tables: the migrations touched none that exist now)")
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if inspection.database_free_bytes is not None:
        lines.append(f"Free space in the database file: {human_size(inspection.database_free_bytes)}"
                     " (VACUUM gives it back).")
    for index in inspection.invalid_indexes:
        lines.append(f"INVALID index: {index.name} on {index.table} ({', '.join(index.columns)}).")
    for group in inspection.duplicate_indexes:
        lines.append(f"Duplicate indexes on {group[0].table} ({', '.join(group[0].columns)}): "
                     + ", ".join(i.name + (" (unique)" if i.unique else "") for i in group)
                     + "; drop all but one in a migration.")
    for where in targets.unknown:
        lines.append(f"Not known: the tables {where} touches with RunPython or RunSQL; name them with --table.")
    lines.append(("Would run:" if dry_run else "Running:") if actions else "Nothing to run.")
    for action in actions:
        note = f"  -- {action.reason}" + (f"; BLOCKS: {action.blocks}" if action.blocking else "")
        lines.append(f"  {action.sql};{note}")
    return "\n".join(lines) + "\n"


def _size(value: int | None, human_size: Any) -> str:
    return "-" if value is None else human_size(value)


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def _payload(connection: Any, targets: Any, inspection: Any, actions: Any, results: Any) -> dict[str, Any]:
    done = {id(r.action): r for r in results}
    return {
        "alias": connection.alias, "vendor": connection.vendor, "runs": list(targets.runs),
        "migrations": [list(k) for k in targets.migrations], "unknown": list(targets.unknown),
        "tables": [{"table": s.table, "size_bytes": s.size_bytes, "live_tuples": s.live_tuples,
                    "dead_tuples": s.dead_tuples, "dead_ratio": s.dead_ratio, "bloat_bytes": s.bloat_bytes}
                   for s in inspection.tables],
        "invalid_indexes": [{"table": i.table, "name": i.name, "columns": list(i.columns)}
                            for i in inspection.invalid_indexes],
        "duplicate_indexes": [{"table": g[0].table, "columns": list(g[0].columns), "indexes": [i.name for i in g]}
                              for g in inspection.duplicate_indexes],
        "database_free_bytes": inspection.database_free_bytes,
        "actions": [{"table": a.table, "sql": a.sql, "kind": a.kind, "reason": a.reason, "blocks": a.blocks,
                     **({"ok": done[id(a)].ok, "duration_s": done[id(a)].duration_s, "error": done[id(a)].error}
                        if id(a) in done else {})} for a in actions],
    }


class _Progress:
    """A rich progress bar on a terminal; one line per finished statement otherwise."""

    def __init__(self, streams: Streams, total: int, *, quiet: bool) -> None:
        self.stream = getattr(streams.err, "_out", streams.err)
        self.out = streams.out
        self.total = total
        self.quiet = quiet
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _Progress:
        if not self.quiet and self.total and bool(getattr(self.stream, "isatty", lambda: False)()):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(file=self.stream), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("maintain", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, number: int, action: Any, result: Any) -> None:
        if self.bar is not None:
            if result is None:
                self.bar.update(self.task, description=action.sql[:60])
            else:
                self.bar.advance(self.task)
        if result is not None and not self.quiet:
            outcome = f"done ({result.duration_s:.2f}s)" if result.ok else "FAILED"
            self.out.write(f"[{number + 1}/{self.total}] {action.sql}: {outcome}\n")
            self.out.flush()
