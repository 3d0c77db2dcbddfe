"""`pilot rehearse`: the pending plan forward, backward and forward again on generated rows, on a scratch copy."""

from __future__ import annotations

import argparse
import json
import signal
from typing import Any

from migration_pilot.cli.commands import EXIT_FINDINGS, EXIT_OK, Streams

EXIT_INTERRUPTED = 130
NAME = "rehearse"
HELP = ("Apply the pending plan forward, backward and forward again on a scratch database filled with"
        " generated rows; report reversibility, data kept and timings. Never touches the live database's schema.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot rehearse`."""
    parser.add_argument("--database", default="default", help="The live database alias (read, never migrated).")
    parser.add_argument("--rows", type=int, default=1000, help="Rows per touched table (default 1000).")
    parser.add_argument("--from", nargs=2, metavar=("APP", "MIGRATION"), dest="start",
                        help="Start the rehearsal at this migration (it and later ones are rehearsed).")
    parser.add_argument("--to", nargs=2, metavar=("APP", "MIGRATION"), dest="stop",
                        help="Rehearse up to this migration (default: every pending one).")
    parser.add_argument("--from-backup", metavar="ID", help="Restore this `pilot backup` into the scratch database.")
    parser.add_argument("--scratch-name", help="Name of the scratch database (default: <live>_rehearse).")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database afterwards.")
    parser.add_argument("--keep-going", action="store_true",
                        help="After a migration fails forward on the generated rows, empty its tables, apply it"
                             " and go on (it still fails the rehearsal).")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Rehearse; exit 0 when everything is reversible and lossless (or declared), 1 otherwise, 2 on bad input."""
    from migration_pilot.rehearse import rehearse

    text = options.get("output_format") != "json"
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with _Bar(streams, enabled=text and bool(getattr(streams.out, "isatty", lambda: False)())) as progress:
            report = rehearse(options.get("database") or "default", rows=options["rows"],
                              scratch_name=options.get("scratch_name"), start=options.get("start"),
                              stop=options.get("stop"), from_backup=options.get("from_backup"),
                              keep=bool(options.get("keep")), progress=progress,
                              keep_going=bool(options.get("keep_going")))
    except KeyboardInterrupt:
        kept = "kept (--keep)" if options.get("keep") else "dropped"
        streams.err.write(f"error: interrupted; nothing recorded, the scratch database was {kept}.\n")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not text:
        streams.out.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        streams.out.write(render(report))
    return EXIT_OK if report.ok else EXIT_FINDINGS


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM is handled as Ctrl-C: the scratch database is dropped on the way out."""
    raise KeyboardInterrupt


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def render(report: Any) -> str:
    """The text report: one block per migration, then the verdict."""
    lines = [f"Rehearsal on scratch database {report.scratch} ({report.vendor}), {report.rows} rows per table;"
             f" scratch built in {_ms(report.build_s)}."]
    if not report.migrations:
        lines.append("Nothing to rehearse: no pending migration.")
    for m in report.migrations:
        mark = "ok" if m.ok and not m.declared else "declared" if m.ok else "FAIL"
        lines.append(f"{mark:>8}  {m.app}.{m.name}")
        timings = [f"forward {_ms(m.forward.seconds)} (longest statement {_ms(m.forward.longest_s)})"]
        if m.backward is not None:
            timings.append(f"backward {_ms(m.backward.seconds)} (longest {_ms(m.backward.longest_s)})")
        if m.forward_again is not None:
            timings.append(f"forward again {_ms(m.forward_again.seconds)}")
        lines.append("          " + ", ".join(timings))
        if m.generated:
            lines.append("          rows generated: " + ", ".join(f"{t} {n}" for t, n in sorted(m.generated.items())))
        for table, reason in sorted(m.not_generated.items()):
            lines.append(f"          not filled: {table}: {reason}")
        for table, reason in sorted(m.limited.items()):
            lines.append(f"          filled partly: {table}: {reason}")
        for table, reason in sorted(m.left_out.items()):
            lines.append(f"          rows left out: {table}: {reason}")
        if m.error:
            lines.append(f"          {m.error}")
        if m.continued:
            lines.append(f"          {m.continued}")
        if not m.reversible:
            lines.append("          irreversible: the migration has no reverse")
        for loss in m.lost_backward:
            lines.append(f"          lost going backward: {loss}")
        for loss in m.lost_forward_again:
            lines.append(f"          changed by backward+forward: {loss}")
        if m.declared:
            lines.append(f"          declared (rehearse_lossy): {m.declared}")
    bad = [m for m in report.migrations if not m.ok]
    where = {"live": "the live database's run history", "scratch": "the scratch database's run history"
             " (the live one has no history tables)", "none": "nowhere (no history tables)"}[report.history]
    lines.append(f"Timings recorded in {where}." if report.migrations else "")
    lines.append(f"{len(bad)} of {len(report.migrations)} migrations failed the rehearsal." if bad else
                 f"All {len(report.migrations)} migrations went forward, back and forward again keeping their data.")
    lines.append(f"Scratch database {'kept' if report.kept else 'dropped'}: {report.scratch}.")
    return "\n".join(line for line in lines if line) + "\n"


class _Bar:
    """A rich progress bar over the migrations when writing to a terminal; else nothing."""

    def __init__(self, streams: Streams, *, enabled: bool) -> None:
        self.streams, self.enabled = streams, enabled
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("rehearsing {task.fields[what]}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(file=self.streams.out), transient=True)
        self.bar.start()
        return self.update

    def update(self, what: str, done: int, total: int) -> None:
        """Called before each migration."""
        if self.task is None:
            self.task = self.bar.add_task("rehearse", total=total, what=what)
        self.bar.update(self.task, completed=done, what=what)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
