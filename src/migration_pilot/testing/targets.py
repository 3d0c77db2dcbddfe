"""Migration targets: parse `(app, migration)` specs the way django-test-migrations does, and resolve them.

A target `(app, "0003_x")` means "this migration applied"; `(app, None)` means "none of
app's migrations applied". `apply_initial_migration` brings the database to the longest
prefix of the full forward plan that ends at the targets (so unrelated apps that come
earlier are migrated too, which is what a DTM test expects); `apply_tested_migration`
migrates there with Django's own semantics, backward included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from migration_pilot.testing.errors import MigrationTargetError, known_names
from migration_pilot.types import MigrationKey

MigrationTarget: TypeAlias = tuple[str, str | None]
MigrationSpec: TypeAlias = MigrationTarget | list[MigrationTarget]


def normalize(spec: Any) -> list[MigrationTarget]:
    """One target or a list of targets, checked for shape (not yet for existence)."""
    items = spec if isinstance(spec, list) else [spec]
    if not items:
        raise MigrationTargetError(spec, "no target given", hint="Pass ('app_label', 'migration_name').")
    out: list[MigrationTarget] = []
    for item in items:
        if (not isinstance(item, tuple) or len(item) != 2 or not isinstance(item[0], str)
                or not (item[1] is None or isinstance(item[1], str))):
            raise MigrationTargetError(
                item, "not an (app_label, migration_name) pair",
                hint="Pass a tuple such as ('shop', '0002_invoice_status') or ('shop', None), or a list of them.")
        out.append((item[0], item[1]))
    return out


def resolve(targets: Sequence[MigrationTarget], graph: Any) -> list[MigrationTarget]:
    """Targets with each migration name checked against the graph (a unique prefix is expanded)."""
    apps = sorted({key[0] for key in graph.nodes})
    resolved: list[MigrationTarget] = []
    for app, name in targets:
        if app not in apps:
            raise MigrationTargetError(
                (app, name), f"no app {app!r} has migrations",
                hint=f"Use one of the app labels: {known_names(apps)}.")
        if name is None or (app, name) in graph.nodes:
            resolved.append((app, name))
            continue
        names = sorted(key[1] for key in graph.nodes if key[0] == app)
        matches = [n for n in names if n.startswith(name)]
        if len(matches) != 1:
            problem = (f"app {app!r} has no migration {name!r}" if not matches
                       else f"{name!r} matches {len(matches)} migrations of {app!r}")
            raise MigrationTargetError((app, name), problem,
                                       hint=f"Use one of: {known_names(names)}.")
        resolved.append((app, matches[0]))
    return resolved


def initial_prefix(targets: Sequence[MigrationTarget], full_plan: Sequence[MigrationKey]) -> list[MigrationKey]:
    """The longest prefix of the forward plan that stops at the targets (DTM's truncated plan).

    `(app, None)` stops just before app's first migration, so none of it is applied.
    """
    end = 0
    for app, name in targets:
        if name is None:
            index = next((i for i, key in enumerate(full_plan) if key[0] == app), None)
            stop = index
        else:
            index = full_plan.index((app, name)) if (app, name) in full_plan else None
            stop = None if index is None else index + 1
        if stop is None:
            raise MigrationTargetError((app, name), "it is not in the forward plan from an empty database",
                                       hint="Check the app's migrations load (manage.py showmigrations).")
        end = max(end, stop)
    return list(full_plan[:end])

