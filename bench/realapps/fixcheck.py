"""Run inside the benchmark's virtualenv: does a finding's fix give the schema its migration gives?

    python fixcheck.py parents REQUEST.json   (DJANGO_SETTINGS_MODULE, BENCH_DB, BENCH_DB_FIXED set)
    python fixcheck.py compare REQUEST.json

REQUEST holds {"app", "migration", "operation", "fix"}. `parents` applies the migration's
parents on the `default` alias (run.py then copies that database to the
`fixed` alias's with CREATE DATABASE ... TEMPLATE). `compare` applies the
migration itself on `default` and each migration of the fix in its place on
`fixed` (the fix's code is executed as the migration module it would be saved
as). A fix for one operation takes that operation's place: the operations
before it run first, the ones after it last, each group as a migration with
the original's atomicity (operations the fix says it replaces, in its
"# This fix replaces operations #i, #j" first line, are left out too); a fix for a whole migration (no operation) replaces
it. A staged fix (`# === Deploy N of M` headers: an expand/contract) has its
first deploy in that place and the later deploys after the whole migration,
as they run in production. Reads both catalogs with drift.catalog_postgresql.read and compares them
with drift.compare (names included); prints a JSON list of the differences
([] = the same schema).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import django

django.setup()

from django.db import connections, migrations  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402

from migration_pilot.drift import catalog_postgresql  # noqa: E402
from migration_pilot.drift.compare import compare  # noqa: E402
from migration_pilot.lint.render import deploy_steps, replaced_operations  # noqa: E402


def _migrate_to_parents(alias: str, key: tuple[str, str]) -> None:
    executor = MigrationExecutor(connections[alias])
    parents = sorted(executor.loader.graph.node_map[key].parents, key=lambda n: n.key)
    executor.migrate([parent.key for parent in parents])


def _fix_migrations(app: str, name: str, code: str) -> list[list[migrations.Migration]]:
    """The fix's migrations, grouped by deploy step (one group for a fix that is not staged)."""
    found: list[list[migrations.Migration]] = []
    number = 0
    for deploy in deploy_steps(code):
        group = []
        for chunk in deploy:
            module = types.ModuleType(f"fix_{app}_{name}_{number}")
            exec(compile(chunk, f"<fix {app}.{name} part {number + 1}>", "exec"), module.__dict__)
            group.append(module.Migration(f"{name}_fix{number}", app))
            number += 1
        found.append(group)
    return found


def _part(original: migrations.Migration, operations: list[object], suffix: str) -> migrations.Migration:
    """The original migration's `operations` alone, as a migration with its atomicity."""
    cls = type("Migration", (migrations.Migration,), {"operations": list(operations), "dependencies": [],
                                                      "atomic": original.atomic})
    return cls(f"{original.name}_{suffix}", original.app_label)


def main() -> int:
    mode, request = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    app, name = request["app"], request["migration"]
    key = (app, name)
    if mode == "parents":
        _migrate_to_parents("default", key)
        return 0
    MigrationExecutor(connections["default"]).migrate([key])
    fixed = MigrationExecutor(connections["fixed"])
    state = fixed._create_project_state(with_applied_migrations=True)
    deploys = _fix_migrations(app, name, request["fix"])
    steps = [migration for group in deploys[:1] for migration in group]
    later = [migration for group in deploys[1:] for migration in group]
    index = request.get("operation")
    if index is not None:
        # The fix takes the place of its operation and of every other one it says it replaces.
        replaced = set(replaced_operations(request["fix"]) or ()) | {index}
        original = fixed.loader.get_migration(app, name)
        kept = [(i, op) for i, op in enumerate(original.operations) if i not in replaced]
        steps = [_part(original, [op for i, op in kept if i < index], "before"), *steps,
                 _part(original, [op for i, op in kept if i > index], "after")]
    for migration in [*steps, *later]:  # deploy 1 in the operation's place, the later deploys after
        state = fixed.apply_migration(state, migration)
    differences = compare(catalog_postgresql.read(connections["default"]),
                          catalog_postgresql.read(connections["fixed"]),
                          strict_names=True, skip_tables=["django_migrations"])
    print(json.dumps([f"{d.kind} {d.table}.{d.object}: {d.expected} -> {d.actual}" for d in differences]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
