"""The last run in Prometheus text format, for node_exporter's textfile collector (files only)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# (name, help, value of one migration result or None when not known)
_PER_MIGRATION: tuple[tuple[str, str, Callable[[Any], float | int | None]], ...] = (
    ("migration_duration_seconds", "Wall time per migration in the last deploy.", lambda m: m.duration_s),
    ("migration_lock_wait_seconds", "Time lost to lock timeouts per migration.", lambda m: m.lock_wait_s),
    ("migration_retries", "Lock-timeout retries per migration.", lambda m: m.retries),
    ("migration_rows_affected", "Rows changed by the migration's DML, where the driver reports it.",
     lambda m: m.rows_affected),
    ("migration_wal_bytes", "WAL the server wrote while the migration ran, other sessions included (PostgreSQL).",
     lambda m: m.wal_bytes),
    ("migration_longest_wait_seconds", "Longest time another session was seen waiting on the migration.",
     lambda m: (m.impact or {}).get("longest_wait_s")),
    ("migration_sessions_blocked", "Sessions seen waiting on the migration.",
     lambda m: (m.impact or {}).get("sessions_blocked")),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _family(name: str, help_text: str) -> list[str]:
    return [f"# HELP migration_pilot_{name} {help_text}", f"# TYPE migration_pilot_{name} gauge"]


def write_metrics(path: Path, *, alias: str, outcome: str, exit_code: int, duration_s: float,
                  migrations: Sequence[Any], finished_at: float | None = None) -> None:
    """Write atomically (temp file + rename), as the textfile collector requires."""
    where = f'alias="{_label(alias)}"'
    lines = [
        *_family("deploy_exit_code", "Exit code of the last pilot deploy."),
        f'migration_pilot_deploy_exit_code{{{where},outcome="{_label(outcome)}"}} {exit_code}',
        *_family("deploy_duration_seconds", "Wall time of the last pilot deploy."),
        f"migration_pilot_deploy_duration_seconds{{{where}}} {duration_s:.6f}",
        *_family("deploy_last_run_timestamp_seconds", "When the last pilot deploy ended (Unix time), to alert"
                 " on a stale file."),
        f"migration_pilot_deploy_last_run_timestamp_seconds{{{where}}} {finished_at or time.time():.3f}",
    ]
    for name, help_text, value_of in _PER_MIGRATION:
        samples = []
        for m in migrations:
            value = value_of(m)
            if value is not None:
                labels = f'{where},app="{_label(m.key[0])}",migration="{_label(m.key[1])}"'
                samples.append(f"migration_pilot_{name}{{{labels}}} {value:.6f}" if isinstance(value, float)
                               else f"migration_pilot_{name}{{{labels}}} {value}")
        if samples:
            lines += [*_family(name, help_text), *samples]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(temp, path)
