"""Run inside the benchmark's virtualenv: does a finding's fix give the schema its migration gives?

    python fixcheck.py REQUEST.json   (DJANGO_SETTINGS_MODULE and BENCH_DB set)

REQUEST holds {"app", "migration", "fix", "original_db", "fixed_db"}. On
`original_db` the migration's parents are applied, then the migration itself;
on `fixed_db` the same parents, then each migration of the fix in place of the
original (the fix's code is executed as the migration module it would be
saved as). Both catalogs are read with drift.catalog_postgresql.read and
compared with drift.compare (names included); prints a JSON list of the
differences ([] = the same schema).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import django

django.setup()

from django.db import connections  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402

from migration_pilot.drift import catalog_postgresql  # noqa: E402
from migration_pilot.drift.compare import compare  # noqa: E402

SEPARATOR = "# --- next migration ---"


def _migrate_to_parents(alias: str, key: tuple[str, str]) -> MigrationExecutor:
    executor = MigrationExecutor(connections[alias])
    parents = sorted(executor.loader.graph.node_map[key].parents, key=lambda n: n.key)
    executor.migrate([parent.key for parent in parents])
    return MigrationExecutor(connections[alias])


def _fix_migrations(app: str, name: str, code: str) -> list[object]:
    migrations = []
    for number, chunk in enumerate(code.split(SEPARATOR)):
        module = types.ModuleType(f"fix_{app}_{name}_{number}")
        exec(compile(chunk, f"<fix {app}.{name} part {number + 1}>", "exec"), module.__dict__)
        migrations.append(module.Migration(f"{name}_fix{number}", app))
    return migrations


def main() -> int:
    request = json.loads(Path(sys.argv[1]).read_text())
    app, name = request["app"], request["migration"]
    key = (app, name)
    original = _migrate_to_parents(request["original_db"], key)
    original.migrate([key])
    fixed = _migrate_to_parents(request["fixed_db"], key)
    state = fixed._create_project_state(with_applied_migrations=True)
    for migration in _fix_migrations(app, name, request["fix"]):
        state = fixed.apply_migration(state, migration)
    differences = compare(catalog_postgresql.read(connections[request["original_db"]]),
                          catalog_postgresql.read(connections[request["fixed_db"]]),
                          strict_names=True, skip_tables=["django_migrations"])
    print(json.dumps([f"{d.kind} {d.table}.{d.object}: {d.expected} -> {d.actual}" for d in differences]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
