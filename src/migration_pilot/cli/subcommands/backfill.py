"""`pilot backfill`: run, resume or list resumable batched backfills.

    pilot backfill shop 0007_fill_status_code       # the Backfill(s) of a migration
    pilot backfill shop.Order --update "status_code=upper(status)" --where "status_code is None"
    pilot backfill shop.Order --function shop.backfills:fill --fields total
    pilot backfill --resume shop.order.status_code.1a2b3c4d
    pilot backfill --status
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any, TextIO

from migration_pilot.cli.commands import EXIT_OK, Streams, split_list
from migration_pilot.exceptions import BackfillDefinitionError, UnknownBackfillError

NAME = "backfill"
HELP = ("Run or resume a batched backfill (a migration's Backfill, or --update/--function on a model):"
        " keyset batches that each commit with a checkpoint; --status lists checkpoints.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot backfill`."""
    parser.add_argument("target", nargs="*", metavar="TARGET",
                        help="APP MIGRATION (run that migration's Backfill operations) or APP.Model with --update or"
                             " --function.")
    parser.add_argument("--operation", type=int, metavar="N", help="Only the Nth Backfill of the migration.")
    # Not --set: the console script's pre-parser would take it for an abbreviation of --settings.
    parser.add_argument("--update", action="append", default=[], dest="assignments", metavar="FIELD=EXPR",
                        help="Set FIELD to EXPR, e.g. \"code=upper(status)\" or \"n=n+1\" (repeatable).")
    parser.add_argument("--where", help="Only rows matching, e.g. \"code is None and status == 'paid'\".")
    parser.add_argument("--function", help="Per-row Python: module.path:function taking one model instance.")
    parser.add_argument("--fields", type=split_list, default=[], help="Fields --function changes (a,b).")
    parser.add_argument("--name", help="Checkpoint name of an ad-hoc backfill (default: derived from it).")
    parser.add_argument("--resume", metavar="NAME", help="Resume the backfill with this checkpoint name.")
    parser.add_argument("--restart", action="store_true", help="Forget the checkpoint and start from the first row.")
    parser.add_argument("--status", action="store_true", help="List checkpoints: rows done, last key, state,"
                        " rate, ETA (--name to show one).")
    parser.add_argument("--batch-time", help="Target time per batch (default 100ms); the batch size adapts.")
    parser.add_argument("--batch-size", type=int, help="Rows in the first batch (default 1000, 100 per row).")
    parser.add_argument("--min-batch-size", type=int, help="Never fewer rows per batch than this (default 10).")
    parser.add_argument("--max-batch-size", type=int, help="Never more rows per batch than this.")
    parser.add_argument("--sleep", help="Pause between batches, e.g. 50ms (default 0).")
    parser.add_argument("--max-lag", help="Pause while a replica's replay lag is above this (default 5s; 0 = off).")
    parser.add_argument("--lock-timeout", help="Per batch; on timeout it rolls back and retries smaller (default 1s).")
    parser.add_argument("--no-analyze", action="store_true", help="Skip ANALYZE of the table at the end.")
    parser.add_argument("--database", default="default", help="Database alias.")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Run one backfill (or a migration's), or print the checkpoints."""
    from migration_pilot.backfill import status as checkpoint_status
    from migration_pilot.pipeline.preflight import connect

    alias = options.get("database") or "default"
    overrides = _tuning(options)
    connect(alias)
    if options.get("status"):
        rows = checkpoint_status.checkpoints(alias, options.get("name"))
        _print_status(rows, options.get("output_format") == "json", streams.out)
        return EXIT_OK
    jobs = _jobs(options, alias)
    renderer = _Renderer(streams, json_lines=options.get("output_format") == "json")
    for label, job in jobs:
        if options.get("restart"):
            checkpoint_status.forget(alias, label)
        try:
            job(overrides, renderer)
        finally:
            renderer.close()
    return EXIT_OK


def _tuning(options: dict[str, Any]) -> dict[str, Any]:
    from migration_pilot.pipeline.durations import parse_duration

    values: dict[str, Any] = {}
    for flag, key in (("batch_time", "batch_time"), ("sleep", "sleep"), ("max_lag", "max_lag"),
                      ("lock_timeout", "lock_timeout")):
        if options.get(flag) is not None:
            values[key] = parse_duration(options[flag], source="--" + flag.replace("_", "-"))
    if "batch_time" in values and values["batch_time"] <= 0:
        raise BackfillDefinitionError("--batch-time must be more than 0.", hint="100ms suits a busy table.")
    for flag in ("batch_size", "min_batch_size", "max_batch_size"):
        if options.get(flag) is not None:
            if options[flag] < 1:
                raise BackfillDefinitionError(f"--{flag.replace('_', '-')} must be 1 or more.",
                                              hint="Leave it out to let the size adapt to --batch-time.")
            values[flag] = options[flag]
    if options.get("no_analyze"):
        values["analyze"] = False
    if values.get("max_batch_size") and values.get("batch_size", 0) > values["max_batch_size"]:
        values["batch_size"] = values["max_batch_size"]
    return values


def _jobs(options: dict[str, Any], alias: str) -> list[tuple[str, Any]]:
    """(checkpoint name, job(overrides, renderer)) for what the flags name."""
    from migration_pilot.backfill import adhoc, locate
    from migration_pilot.backfill import status as checkpoint_status

    targets = options.get("target") or []
    if options.get("resume"):
        name = options["resume"]
        if targets:
            raise BackfillDefinitionError("--resume NAME takes no TARGET.", hint="Give either one.")
        rows = checkpoint_status.checkpoints(alias, name)
        spec = rows[0] if rows else None
        if spec is not None:
            from migration_pilot.models import BackfillCheckpoint

            stored = BackfillCheckpoint.objects.using(alias).get(name=name).spec
            if stored.get("kind") == "command":
                return [(name, _adhoc_job(adhoc.from_spec(stored, name), alias))]
        located = locate.by_checkpoint_name(name, using=alias)
        if located is None:
            raise UnknownBackfillError(f"No backfill named {name!r}: no checkpoint and no migration's Backfill.",
                                       hint="Run 'pilot backfill --status' to list checkpoint names.")
        return [(name, _operation_job(located, alias))]
    if options.get("assignments") or options.get("function"):
        if len(targets) != 1:
            raise BackfillDefinitionError("--update and --function need exactly one TARGET, the model (APP.Model).",
                                          hint="For example: pilot backfill shop.Order --update \"n=n+1\".")
        built = adhoc.build(targets[0], assignments=options["assignments"], where=options.get("where"),
                            function=options.get("function"), fields=options.get("fields") or [],
                            name=options.get("name"))
        return [(built.name, _adhoc_job(built, alias))]
    if len(targets) != 2:
        raise BackfillDefinitionError("Name a migration (APP MIGRATION), a model with --update or --function, or"
                                      " use --resume NAME or --status.",
                                      hint="For example: pilot backfill shop 0007 (see --help).")
    stray = [flag for flag in ("where", "fields", "name") if options.get(flag)]
    if stray:
        raise BackfillDefinitionError(f"--{stray[0]} goes with --update or --function, not with a migration.",
                                      hint="A migration's Backfill takes its rows and fields from the migration.")
    found = locate.in_migration(targets[0], targets[1], using=alias)
    if options.get("operation") is not None:
        found = [b for b in found if b.index == options["operation"]]
        if not found:
            raise UnknownBackfillError(f"Migration {targets[0]} {targets[1]} has no Backfill number"
                                       f" {options['operation']}.", hint="Count from 1 among its Backfills.")
    if not options.get("restart"):
        known = {row.name for row in checkpoint_status.checkpoints(alias)}
        for located in found:
            if located.applied and located.checkpoint_name not in known:
                raise UnknownBackfillError(
                    f"Migration {located.app_label}.{located.migration} is applied but has no checkpoint for"
                    f" its Backfill {located.checkpoint_name}, so it ran (or was faked) before.",
                    hint="Add --restart to run it again over every row.")
    return [(b.checkpoint_name, _operation_job(b, alias)) for b in found]


def _adhoc_job(built: Any, alias: str) -> Any:
    from migration_pilot.backfill import Tuning, run_backfill

    def job(overrides: dict[str, Any], renderer: _Renderer) -> None:
        run_backfill(built.model, built.work, name=built.name, using=alias,
                     tuning=dataclasses.replace(Tuning(), **overrides), on_event=renderer,
                     description=built.description, spec=built.spec)
    return job


def _operation_job(located: Any, alias: str) -> Any:
    def job(overrides: dict[str, Any], renderer: _Renderer) -> None:
        located.operation.run(located.app_label, located.model, using=alias,
                              tuning=located.operation.tuning(**overrides), on_event=renderer)
    return job


class _Renderer:
    """Backfill events -> a rich progress bar (terminal), plain lines (at most one a second) or JSON lines."""

    def __init__(self, streams: Streams, *, json_lines: bool) -> None:
        self.out = streams.out
        self.json_lines = json_lines
        self.bar = streams.colour and not json_lines
        self.progress: Any = None
        self.task: Any = None
        self.last_line = 0.0

    def __call__(self, event: Any) -> None:
        from migration_pilot.backfill import events

        if self.json_lines:
            kind = {events.BackfillStarted: "started", events.BatchCommitted: "batch",
                    events.Throttled: "throttled", events.Analyzed: "analyzed",
                    events.BackfillFinished: "finished"}[type(event)]
            self.out.write(json.dumps({"event": kind, **dataclasses.asdict(event)}) + "\n")
        elif isinstance(event, events.BackfillStarted):
            self._started(event)
        elif isinstance(event, events.BatchCommitted):
            self._batch(event)
        elif isinstance(event, events.Throttled):
            if event.reason != "sleep":
                self._line(f"  paused {event.seconds:.2f}s ({event.reason.replace('_', ' ')}): {event.detail}")
        elif isinstance(event, events.Analyzed):
            self._line(f"  analyzed {event.table} in {event.duration_s:.2f}s")
        elif isinstance(event, events.BackfillFinished):
            self.close()
            if event.already_done:
                self.out.write(f"Backfill {event.name} is already done ({event.rows_done} rows); nothing to do."
                               " Use --restart to run it again.\n")
            else:
                self.out.write(f"Done: {event.name}: {event.rows_scanned} rows scanned, {event.rows_done} updated"
                               f" in {event.batches} batches; this run {event.elapsed_s:.1f}s"
                               f" ({event.rate:,.0f} rows/s).\n")

    def _started(self, event: Any) -> None:
        total = f"~{event.rows_total:,} rows" if event.rows_total is not None else "an unknown number of rows"
        if event.resumed:
            what = f"resuming after key {event.last_key} ({event.rows_scanned:,} of {total} done)"
        else:
            what = f"starting: {total}, keys up to {event.end_key}"
        self.out.write(f"Backfill {event.name} on {event.table}: {what}.\n")
        if self.bar:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[rate]} rows/s  ETA {task.fields[eta]}"),
                                     console=Console(file=self.out), transient=False)
            self.task = self.progress.add_task(event.table, total=event.rows_total, completed=event.rows_scanned,
                                               rate="-", eta="-")
            self.progress.start()

    def _batch(self, event: Any) -> None:
        eta = _seconds(event.eta_s)
        if self.progress is not None:
            total = max(event.rows_total or 0, event.total_scanned)
            self.progress.update(self.task, completed=event.total_scanned, total=total,
                                 rate=f"{event.rate:,.0f}", eta=eta)
            return
        now = time.monotonic()
        done = event.rows_total is not None and event.total_scanned >= event.rows_total
        if event.batch > 1 and now - self.last_line < 1.0 and not done:
            return
        self.last_line = now
        share = f" ({min(100, event.total_scanned * 100 // event.rows_total)}%)" if event.rows_total else ""
        self.out.write(f"  batch {event.batch}: {event.total_scanned:,}/{event.rows_total or '?'} rows{share},"
                       f" {event.rate:,.0f} rows/s, ETA {eta}, last key {event.last_key},"
                       f" next batch {event.next_batch_size:,} rows\n")

    def _line(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(text, markup=False, highlight=False)
        else:
            self.out.write(text + "\n")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.0f}s"
    if value < 3600:
        return f"{value // 60:.0f}min {value % 60:.0f}s"
    return f"{value // 3600:.0f}h {value % 3600 // 60:.0f}min"


def _print_status(rows: list[Any], as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps([dataclasses.asdict(row) for row in rows], indent=2) + "\n")
        return
    if not rows:
        out.write("No backfill checkpoints.\n")
        return
    table = [("NAME", "TABLE", "ROWS DONE", "SCANNED", "LAST KEY", "STATE", "RATE", "ETA")]
    for row in rows:
        total = f"/{row.rows_total:,}" if row.rows_total is not None else ""
        rate = f"{row.rate:,.0f} rows/s" if row.rate else "-"
        table.append((row.name, row.table, f"{row.rows_done:,}", f"{row.rows_scanned:,}{total}",
                      row.last_key or "-", row.state, rate, "-" if row.state == "done" else _seconds(row.eta_s)))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n")
    for row in rows:
        if row.error:
            out.write(f"{row.name}: {row.error}\n")
