"""`pilot monitor`: in another terminal, what a running deploy or backfill does to everyone else.

Watches every session named `migration-pilot ...` (PostgreSQL) or the given
connection ids (`--pid`), and shows what they hold and wait for, whom they
block and for how long, index-build progress and the database's counters.
"""

from __future__ import annotations

import argparse
import json
import queue
import time
from typing import Any

from migration_pilot.cli.commands import EXIT_OK, Streams

NAME = "monitor"
HELP = ("Watch running migration-pilot sessions: the locks they hold and wait for, the sessions they block"
        " and for how long, index builds, rollbacks and deadlocks.")

_QUERY_WIDTH = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot monitor`."""
    parser.add_argument("--database", default="default", help="Database alias to watch.")
    parser.add_argument("--interval", default="100ms", help="Time between samples, e.g. 100ms (default), 1s.")
    parser.add_argument("--duration", help="Stop after this long, e.g. 30s, 5min (default and 0: until Ctrl-C).")
    parser.add_argument("--once", action="store_true", help="Take one sample, print it and exit.")
    parser.add_argument("--pid", type=int, action="append", dest="pids", metavar="PID",
                        help="Watch this backend pid / connection id instead of the migration-pilot sessions"
                             " (repeatable; MySQL and MariaDB have no session names, so pass the deploy's here).")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format",
                        help="json: one object per sample, then {\"report\": ...} (with --once: one object).")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Sample once or live until --duration or Ctrl-C; exit 0."""
    from migration_pilot.exceptions import ConfigError
    from migration_pilot.monitor import ImpactMonitor, Sample, sample_to_dict
    from migration_pilot.pipeline.durations import parse_duration
    from migration_pilot.pipeline.preflight import DatabaseUnreachableError

    alias = options.get("database") or "default"
    interval = parse_duration(options.get("interval") or "100ms", source="--interval")
    if interval <= 0:
        raise ConfigError("--interval must be more than 0, such as 100ms or 1s", source="--interval")
    duration = parse_duration(options["duration"], source="--duration") if options.get("duration") else None
    duration = duration or None  # 0 means no limit, as for every other duration flag
    as_json = options.get("output_format") == "json"
    pids = options.get("pids")
    samples: queue.SimpleQueue[Sample] = queue.SimpleQueue()
    monitor = ImpactMonitor(alias, watch=pids or None, interval=interval, on_sample=samples.put)
    if not monitor.supported:
        note = monitor.report().note
        streams.out.write(json.dumps({"database": alias, "vendor": monitor.vendor, "supported": False,
                                      "note": note}) + "\n" if as_json
                          else f"Nothing to sample on database {alias!r}: {note}\n")
        return EXIT_OK
    watching = (f"pids {', '.join(map(str, pids))}" if pids else "migration-pilot sessions"
                if monitor.vendor == "postgresql" else "every session of this database")
    with monitor:
        first = monitor.latest()
        if first is not None and first.error is not None and monitor.report().error_count == monitor.report().samples:
            raise DatabaseUnreachableError(alias, _where(monitor), first.error)
        if options.get("once"):
            sample = monitor.latest() or Sample(0.0, error="no sample was taken")
            nothing = not sample.watched and not watching.startswith("every")
            if as_json:
                streams.out.write(json.dumps({"database": alias, "vendor": monitor.vendor, "watching": watching,
                                              "nothing_to_watch": nothing,
                                              "sample": sample_to_dict(sample)}, indent=2) + "\n")
            else:
                streams.out.write(_render_text(sample, None, alias, monitor.vendor, watching, streams.colour))
            return EXIT_OK
        _live(monitor, samples, streams, alias=alias, watching=watching, as_json=as_json, duration=duration)
    report = monitor.report()
    if as_json:
        streams.out.write(json.dumps({"report": report.to_dict()}) + "\n")
    else:
        streams.out.write(_summary(report) + "\n")
    return EXIT_OK


def _live(monitor: Any, samples: Any, streams: Streams, *, alias: str, watching: str, as_json: bool,
          duration: float | None) -> None:
    """Show samples until `duration` passes or Ctrl-C: a refreshing table on a terminal, lines otherwise."""
    from migration_pilot.monitor import sample_to_dict

    deadline = None if duration is None else time.monotonic() + duration
    live = None
    if streams.colour and not as_json:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        live = Live(Text("Waiting for the first sample..."), console=Console(file=streams.out),
                    refresh_per_second=4, transient=False)
        live.start()
    shown = ""
    try:
        while deadline is None or time.monotonic() < deadline:
            wait = 0.25 if deadline is None else max(0.0, min(0.25, deadline - time.monotonic()))
            time.sleep(wait)
            batch = []
            while not samples.empty():
                batch.append(samples.get())
            if not batch:
                continue
            if as_json:
                for sample in batch:
                    streams.out.write(json.dumps(sample_to_dict(sample)) + "\n")
                streams.out.flush()
                continue
            sample = batch[-1]
            if live is not None:
                live.update(_renderable(sample, monitor.report(), alias, monitor.vendor, watching))
                continue
            shape = _shape(sample)  # on a pipe, print only when who waits on whom changes
            if shape != shown:
                shown = shape
                streams.out.write(_render_text(sample, monitor.report(), alias, monitor.vendor, watching, False))
                streams.out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()


def _where(monitor: Any) -> str:
    from django.db import connections

    params = connections[monitor.alias].settings_dict
    return f"{params.get('HOST') or 'localhost'}:{params.get('PORT') or 'default port'}"


def _shape(sample: Any) -> str:
    return repr((sorted(s.pid for s in sample.watched), sorted((b.pid, b.root) for b in sample.blocked),
                 sample.error, [(p.pid, p.phase) for p in sample.index_progress]))


def _render_text(sample: Any, report: Any, alias: str, vendor: str, watching: str, colour: bool) -> str:
    import io

    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=colour, no_color=not colour, width=160, soft_wrap=False)
    console.print(_renderable(sample, report, alias, vendor, watching))
    return buffer.getvalue()


def _renderable(sample: Any, report: Any, alias: str, vendor: str, watching: str) -> Any:
    """A rich Group: watched sessions, the sessions they block, index builds, counters."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = [Text(f"Database {alias!r} ({vendor}), watching {watching}, sample at {sample.at_s:.1f}s.")]
    if sample.error:
        parts.append(Text(f"Sampling failed: {sample.error}"))
        return Group(*parts)
    if watching.startswith("every session"):
        parts.append(Text("MySQL and MariaDB sessions have no names: showing every lock wait in this database"
                          " (pass --pid with the deploy's connection id to see whom it blocks)."))
    elif not sample.watched:
        parts.append(Text(f"No {watching} running on {alias!r}: nothing to watch."))
    else:
        table = Table("pid", "application", "state", "running", "holds", "waiting for", "query",
                      title="Watched sessions", title_justify="left")
        for s in sample.watched:
            waiting = ""
            if s.waiting is not None:
                behind = ", ".join(map(str, s.waiting.blocked_by)) or "?"
                waiting = f"{s.waiting.mode} on {s.waiting.table or '?'} for {s.waiting.wait_s:.2f}s (behind {behind})"
            table.add_row(str(s.pid), escape(s.application), escape(s.state),
                          "-" if s.running_s is None else f"{s.running_s:.1f}s", escape("; ".join(s.holds)),
                          escape(waiting), escape(_short(s.query)))
        parts.append(table)
    if sample.blocked:
        table = Table("pid", "application", "waiting", "lock", "table", "behind", "query",
                      title="Sessions blocked by them" if sample.watched else "Sessions waiting for a lock",
                      title_justify="left")
        for b in sorted(sample.blocked, key=lambda b: -b.wait_s):
            table.add_row(str(b.pid), escape(b.application), f"{b.wait_s:.2f}s", escape(b.mode), escape(b.table),
                          ", ".join(map(str, b.blocked_by)), escape(_short(b.query)))
        parts.append(table)
    elif sample.watched:
        parts.append(Text("No session is waiting on them."))
    if sample.index_progress:
        table = Table("pid", "table", "index", "phase", "blocks", "tuples", "done",
                      title="Index builds", title_justify="left")
        for p in sample.index_progress:
            fraction = p.fraction
            table.add_row(str(p.pid), escape(p.table), escape(p.index), escape(p.phase),
                          f"{p.blocks_done}/{p.blocks_total}", f"{p.tuples_done}/{p.tuples_total}",
                          "-" if fraction is None else f"{fraction:.0%}")
        parts.append(table)
    c = sample.counters
    figures = [f"{name} {value}" for name, value in (("rollbacks", c.rollbacks), ("deadlocks", c.deadlocks),
                                                      ("conflicts", c.conflicts), ("row lock waits", c.lock_waits))
               if value is not None]
    if sample.replica_lag_s is not None:
        figures.append(f"replica lag {sample.replica_lag_s:.2f}s")
    if figures:
        parts.append(Text("Database totals: " + ", ".join(figures) + "."))
    if report is not None:
        parts.append(Text(_summary(report)))
    return Group(*parts)


def _summary(report: Any) -> str:
    """One paragraph: what the application felt since the monitor started."""
    return f"Since start ({report.duration_s:.1f}s, {report.samples} samples): {report.summary()}."


def _short(query: str) -> str:
    flat = " ".join(query.split())
    return flat if len(flat) <= _QUERY_WIDTH else flat[: _QUERY_WIDTH - 3] + "..."
