"""What was measured for a migration, and where each figure comes from.

Two sources: the run history of a database (`pilot docs --database ALIAS`),
which holds real deploys and rollbacks and the rehearsals `pilot rehearse`
recorded there, and a rehearsal report file (`pilot rehearse --format json`,
read with `pilot docs --rehearsal FILE`). For each migration and direction the
page shows the latest real run and the latest rehearsal, each naming its run,
database and date (or file), so a figure from 1,000 generated rows is never
mistaken for one from production.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migration_pilot.exceptions import ConfigError
from migration_pilot.types import MigrationKey

Measured = dict[MigrationKey, list["Measurement"]]


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measured run of one migration in one direction."""

    direction: str
    """'apply' or 'unapply'."""
    seconds: float
    source: str
    """Where the figure comes from, e.g. 'deploy #12 on `default`, 2026-12-05'."""
    kind: str
    """'deploy', 'rollback' or 'rehearsal'."""
    statements: int | None = None
    longest_statement_s: float | None = None
    lock_wait_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain values for the json pages."""
        return {"direction": self.direction, "seconds": round(self.seconds, 3), "kind": self.kind,
                "source": self.source, "statements": self.statements,
                "longest_statement_s": None if self.longest_statement_s is None else round(self.longest_statement_s, 3),
                "lock_wait_s": None if self.lock_wait_s is None else round(self.lock_wait_s, 3)}


def from_history(alias: str) -> Measured:
    """The latest real run and the latest rehearsal per migration and direction in `alias`'s run history."""
    from migration_pilot.models import MigrationRun
    from migration_pilot.pipeline import history

    if not history.require_readable(alias):
        return {}
    rows = (MigrationRun.objects.using(alias).select_related("run")
            .filter(outcome__in=["applied", "unapplied", "rehearsed"], duration_s__isnull=False).order_by("id"))
    latest: dict[tuple[MigrationKey, bool, bool], Measurement] = {}
    for row in rows:
        rehearsal = row.outcome == "rehearsed"
        run = row.run
        where = f"`{run.alias}`"
        if rehearsal:
            options = run.options if isinstance(run.options, dict) else {}
            rows_per_table = options.get("rows")
            where = f"a scratch copy of `{run.alias}`" + (f", {rows_per_table} rows per table"
                                                         if rows_per_table is not None else "")
        impact = row.impact if isinstance(row.impact, dict) else {}
        longest = (impact.get("rehearsal") or {}).get("longest_statement_s") if rehearsal else None
        latest[((row.app, row.name), row.backwards, rehearsal)] = Measurement(
            "unapply" if row.backwards else "apply", float(row.duration_s),
            f"{'rehearsal' if rehearsal else run.kind} #{run.id} on {where}, {row.started_at:%Y-%m-%d}",
            "rehearsal" if rehearsal else run.kind, statements=row.statements or None,
            longest_statement_s=float(longest) if longest is not None else None,
            lock_wait_s=None if rehearsal else float(row.lock_wait_s or 0.0))
    return _grouped(latest)


def from_report(path: Path) -> Measured:
    """The figures of a `pilot rehearse --format json` report; a file that is not one is a usage error."""
    source = "--rehearsal"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}; give the file 'pilot rehearse --format json'"
                          " wrote", source=source) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not JSON ({exc}); give the file 'pilot rehearse --format json' wrote",
                          source=source) from None
    if not isinstance(data, dict) or not isinstance(data.get("migrations"), list):
        raise ConfigError(f"{path} is not a 'pilot rehearse --format json' report (no 'migrations' list)",
                          source=source)
    where = f"rehearsal report `{path.name}` ({data.get('rows', '?')} rows per table, {data.get('vendor', '?')})"
    found: dict[tuple[MigrationKey, bool, bool], Measurement] = {}
    for entry in data["migrations"]:
        if not isinstance(entry, dict) or entry.get("error"):
            continue
        for backwards, name in ((False, "forward"), (True, "backward")):
            direction = entry.get(name)
            if not isinstance(direction, dict) or not isinstance(direction.get("seconds"), int | float):
                continue
            found[((str(entry.get("app")), str(entry.get("name"))), backwards, True)] = Measurement(
                "unapply" if backwards else "apply", float(direction["seconds"]), where, "rehearsal",
                statements=direction.get("statements") or None,
                longest_statement_s=direction.get("longest_s"))
    return _grouped(found)


def merge(*sources: Measured) -> Measured:
    """One mapping; a migration's figures from every source, in order."""
    merged: Measured = {}
    for measured in sources:
        for key, figures in measured.items():
            merged.setdefault(key, []).extend(figures)
    return merged


def _grouped(latest: dict[tuple[MigrationKey, bool, bool], Measurement]) -> Measured:
    """Per migration: apply before unapply, the real run before the rehearsal."""
    grouped: Measured = {}
    for (key, _backwards, _rehearsal), figure in sorted(latest.items(), key=lambda item: item[0]):
        grouped.setdefault(key, []).append(figure)
    return grouped
