"""The last run in Prometheus text format, for node_exporter's textfile collector (files only)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def write_metrics(path: Path, *, alias: str, outcome: str, exit_code: int, duration_s: float,
                  migrations: Sequence[Any]) -> None:
    """Write atomically (temp file + rename), as the textfile collector requires."""
    lines = [
        "# HELP migration_pilot_deploy_exit_code Exit code of the last pilot deploy.",
        "# TYPE migration_pilot_deploy_exit_code gauge",
        f'migration_pilot_deploy_exit_code{{alias="{_label(alias)}",outcome="{_label(outcome)}"}} {exit_code}',
        "# HELP migration_pilot_deploy_duration_seconds Wall time of the last pilot deploy.",
        "# TYPE migration_pilot_deploy_duration_seconds gauge",
        f'migration_pilot_deploy_duration_seconds{{alias="{_label(alias)}"}} {duration_s:.6f}',
        "# HELP migration_pilot_migration_duration_seconds Wall time per migration in the last deploy.",
        "# TYPE migration_pilot_migration_duration_seconds gauge",
    ]
    for m in migrations:
        labels = f'alias="{_label(alias)}",app="{_label(m.key[0])}",migration="{_label(m.key[1])}"'
        lines.append(f"migration_pilot_migration_duration_seconds{{{labels}}} {m.duration_s:.6f}")
    lines += ["# HELP migration_pilot_migration_lock_wait_seconds Time lost to lock timeouts per migration.",
              "# TYPE migration_pilot_migration_lock_wait_seconds gauge"]
    for m in migrations:
        labels = f'alias="{_label(alias)}",app="{_label(m.key[0])}",migration="{_label(m.key[1])}"'
        lines.append(f"migration_pilot_migration_lock_wait_seconds{{{labels}}} {m.lock_wait_s:.6f}")
    lines += ["# HELP migration_pilot_migration_retries Lock-timeout retries per migration.",
              "# TYPE migration_pilot_migration_retries gauge"]
    for m in migrations:
        labels = f'alias="{_label(alias)}",app="{_label(m.key[0])}",migration="{_label(m.key[1])}"'
        lines.append(f"migration_pilot_migration_retries{{{labels}}} {m.retries}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(temp, path)
