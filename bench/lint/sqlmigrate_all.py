"""`manage.py sqlmigrate` for every migration on disk, in ONE Python process, one .sql file each.

Run inside the benchmark virtualenv with DJANGO_SETTINGS_MODULE set:

    python sqlmigrate_all.py OUT_DIR [--database pg] [--app LABEL]

This is the fairest way to feed squawk: Django starts once, then each
migration goes through the real `sqlmigrate` command (call_command), exactly
what a CI job scripting squawk would do, minus a process start per migration.
Prints one JSON line: {"files": n, "failed": [[app, name, error], ...]}.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--database", default="pg")
    parser.add_argument("--app", action="append", default=[])
    args = parser.parse_args()
    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = sorted(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    if args.app:
        keys = [key for key in keys if key[0] in args.app]
    failed: list[list[str]] = []
    written = 0
    for app_label, name in keys:
        buffer = io.StringIO()
        try:
            call_command("sqlmigrate", app_label, name, database=args.database, stdout=buffer)
        except Exception as exc:  # a migration sqlmigrate cannot render: report it, go on
            failed.append([app_label, name, f"{type(exc).__name__}: {exc}"[:200]])
            continue
        (out / f"{app_label}__{name}.sql").write_text(buffer.getvalue())
        written += 1
    connections.close_all()
    print(json.dumps({"files": written, "failed": failed}))


if __name__ == "__main__":
    main()
