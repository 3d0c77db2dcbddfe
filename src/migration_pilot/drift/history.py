"""Migration history against the files on disk: unapplied, vanished, out of order, squash records.

Reads `django_migrations` through Django's MigrationRecorder (a SELECT) and
the graph the loader built with that connection, so squashed migrations are
resolved exactly as `migrate` would resolve them.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from migration_pilot.drift.differences import ERROR, HISTORY, WARNING, Difference


def history_differences(loader: MigrationLoader, connection: Any) -> list[Difference]:
    """Findings about the recorded history of `connection` against the migration files."""
    recorded = set(MigrationRecorder(connection).applied_migrations())
    applied = set(loader.applied_migrations or {})
    graph = loader.graph
    replaced_by = {old: new for new, migration in loader.replacements.items() for old in migration.replaces}
    found: list[Difference] = []
    for key in sorted(recorded):
        if key not in graph.nodes and key not in replaced_by and key not in loader.replacements:
            found.append(_vanished(key, loader))
    for key in sorted(set(graph.nodes) - applied):
        migration = graph.nodes[key]
        found.append(Difference(
            "unapplied_migration", "", _name(key), "applied", "not applied",
            cause="The migration exists on disk but is not recorded as applied on this database.",
            fix=f"python manage.py pilot deploy (or: python manage.py migrate {key[0]} {key[1]})."
            + (" It replaces squashed migrations that are partly applied." if migration.replaces else ""),
            severity=WARNING, section=HISTORY))
    for key in sorted(applied & set(graph.nodes)):
        for parent in sorted(graph.node_map[key].parents, key=lambda n: n.key):
            if parent.key in applied:
                continue
            found.append(Difference(
                "inconsistent_history", "", _name(key), f"{_name(parent.key)} applied first", "not applied",
                cause=(f"{_name(key)} is recorded as applied but its dependency {_name(parent.key)} is not:"
                       " the history was edited by hand, a migration was inserted before applied ones,"
                       " or a dependency was changed after deploying."),
                fix=(f"If {_name(parent.key)}'s changes are already in the database: python manage.py migrate"
                     f" {parent.key[0]} {parent.key[1]} --fake. Otherwise fix the dependencies so that"
                     " new migrations come after applied ones."),
                section=HISTORY))
    found.extend(_squash_records(loader, recorded))
    return found


def _name(key: tuple[str, str]) -> str:
    return f"{key[0]}.{key[1]}"


def _vanished(key: tuple[str, str], loader: MigrationLoader) -> Difference:
    app_known = key[0] in loader.migrated_apps or key[0] in loader.unmigrated_apps
    cause = ("The migration is recorded as applied but its file is gone: it was deleted or renamed after"
             " it was applied (a squash cleaned up too early, a rebase)."
             if app_known else
             f"The app {key[0]!r} is recorded in django_migrations but is no longer installed.")
    return Difference(
        "applied_migration_missing", "", _name(key), "migration file on disk", "recorded only",
        cause=cause,
        fix=(f"Restore {key[0]}/migrations/{key[1]}.py from version control, or, if its changes were"
             " folded into another migration, add it to that migration's `replaces`. Objects it created"
             " show up as extra in the schema comparison."),
        severity=ERROR, section=HISTORY)


def _squash_records(loader: MigrationLoader, recorded: set[tuple[str, str]]) -> list[Difference]:
    found = []
    for key, migration in sorted(loader.replacements.items()):
        done = [old for old in migration.replaces if old in recorded]
        if done and len(done) < len(migration.replaces):
            found.append(Difference(
                "partially_applied_squash", "", _name(key),
                f"all {len(migration.replaces)} replaced migrations applied, or none",
                f"{len(done)} of {len(migration.replaces)} applied",
                cause=("Only some of the migrations this squash replaces are applied, so Django keeps using"
                       " the originals here."),
                fix=("Keep the replaced migration files until every database has applied them all"
                     " (python manage.py pilot deploy), then delete them."),
                severity=WARNING, section=HISTORY))
        elif len(done) == len(migration.replaces) and key not in recorded:
            found.append(Difference(
                "squash_not_recorded", "", _name(key), "recorded as applied", "not recorded",
                cause=("Every migration this squash replaces is applied but the squash itself is not recorded;"
                       " once the replaced files are deleted, Django would try to apply it again."),
                fix=f"python manage.py migrate {key[0]} {key[1]} --fake (records it without running it).",
                severity=WARNING, section=HISTORY))
    return found
