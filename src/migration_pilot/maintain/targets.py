"""Which tables a deploy touched: the run history's migrations, mapped to tables by the migration walk.

The history (`MigrationRun`) says which migrations a deploy applied; the walk
(`analysis.walk`) follows every migration's state so each operation's model
resolves to its table name *at the leaves* (after renames), which is the table
that exists now. RunSQL is read with pglast; RunPython cannot be read, so its
migration is reported as touching unknown tables (pass `--table` for those).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db import migrations as dj_migrations

from migration_pilot.analysis.schema import table_of
from migration_pilot.analysis.walk import MigrationVisit, OperationVisit, walk
from migration_pilot.exceptions import PilotError
from migration_pilot.loader import load_graph
from migration_pilot.types import MigrationKey


class NoDeployToMaintainError(PilotError, LookupError):
    """The run history has no deploy to take the tables from."""

    def __init__(self, alias: str, since_run: int | None) -> None:
        self.alias, self.since_run = alias, since_run

    def __str__(self) -> str:
        if self.since_run is not None:
            return (f"No successful deploy with id {self.since_run} or later on {self.alias!r}; see"
                    " 'pilot history' for run ids, or name tables with --table.")
        return (f"No successful deploy that applied migrations is recorded on {self.alias!r}; name the"
                " tables with --table, or run 'pilot deploy' first.")


@dataclass(frozen=True, slots=True)
class Targets:
    """The tables to maintain, and where they came from."""

    tables: tuple[str, ...]
    runs: tuple[int, ...] = ()
    migrations: tuple[MigrationKey, ...] = ()
    unknown: tuple[str, ...] = ()
    """Migrations whose tables cannot be read (RunPython, unparsable RunSQL), as 'app.name'."""


@dataclass
class _Collector:
    """A walk visitor: model references and SQL relations of the visited migrations."""

    models: set[tuple[str, str]] = field(default_factory=set)
    relations: set[str] = field(default_factory=set)
    unknown: list[str] = field(default_factory=list)

    def start_migration(self, visit: MigrationVisit) -> None:
        """Nothing to do before a migration's operations."""

    def end_migration(self, visit: MigrationVisit) -> None:
        """Nothing to do after them."""

    def visit_operation(self, visit: OperationVisit) -> None:
        """Record the model (renamed models by their new name) or the SQL's tables."""
        operation: Any = visit.operation
        label = visit.migration.app_label
        where = f"{label}.{visit.migration.name}"
        if isinstance(operation, dj_migrations.RunSQL):
            if not self._sql_relations(operation.sql):
                self.unknown.append(where)
            return
        if isinstance(operation, dj_migrations.RunPython):
            self.unknown.append(where)
            return
        if isinstance(operation, dj_migrations.RenameModel):
            self.models.add((label, operation.new_name_lower))
            return
        name = getattr(operation, "model_name", None) or getattr(operation, "name", None)
        if isinstance(name, str):
            self.models.add((label, name.lower()))

    def _sql_relations(self, sql: Any) -> bool:
        from migration_pilot.lint.sql import sql_strings

        try:
            from pglast.visitors import referenced_relations

            found = set()
            for text in sql_strings(sql):
                found |= {name.rsplit(".", 1)[-1].strip('"') for name in referenced_relations(text)}
        except Exception:  # unparsable or not PostgreSQL syntax: the tables are unknown
            return False
        self.relations |= found
        return bool(found)


def recent_migrations(alias: str, since_run: int | None = None) -> tuple[list[int], list[MigrationKey]]:
    """Migrations applied forwards by the last successful deploy, or by every successful one from `since_run`."""
    from migration_pilot.models import DeployRun, MigrationRun
    from migration_pilot.pipeline import history

    if not history.require_readable(alias):
        raise NoDeployToMaintainError(alias, since_run)
    runs = DeployRun.objects.using(alias).filter(kind=DeployRun.Kind.DEPLOY, outcome=DeployRun.Outcome.SUCCEEDED)
    applied = MigrationRun.objects.using(alias).filter(outcome="applied", backwards=False)
    if since_run is not None:
        chosen = list(runs.filter(id__gte=since_run).order_by("id").values_list("id", flat=True))
    else:
        last = runs.filter(id__in=applied.values("run_id")).order_by("-id").values_list("id", flat=True).first()
        chosen = [] if last is None else [last]
    keys = list(dict.fromkeys((m.app, m.name) for m in applied.filter(run_id__in=chosen).order_by("id")))
    if not keys:
        raise NoDeployToMaintainError(alias, since_run)
    return chosen, keys


def tables_of_migrations(alias: str, keys: Iterable[MigrationKey]) -> tuple[list[str], list[str]]:
    """(tables, unknown) for migrations: the tables they touch that exist now; migrations not readable."""
    wanted = set(keys)
    connection = connections[alias]
    max_length = connection.ops.max_name_length() or 200
    collector = _Collector()
    final = walk(load_graph(), collector, max_name_length=max_length, should_visit=lambda key: key in wanted)
    tables = set(collector.relations)
    for app_label, model_name in collector.models:
        model = final.models.get((app_label, model_name))
        if model is not None and model.options.get("managed", True) and not model.options.get("proxy"):
            tables.add(table_of(model, max_length))
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
    return sorted(tables & existing), list(dict.fromkeys(collector.unknown))


def resolve_targets(alias: str, *, since_run: int | None = None, tables: Sequence[str] = ()) -> Targets:
    """The tables named with --table (checked to exist), else those of the chosen deploy(s)."""
    connection = connections[alias]
    if tables:
        with connection.cursor() as cursor:
            existing = set(connection.introspection.table_names(cursor))
        missing = [t for t in tables if t not in existing]
        if missing:
            raise UnknownTableError(alias, missing)
        return Targets(tuple(dict.fromkeys(tables)))
    runs, keys = recent_migrations(alias, since_run)
    found, unknown = tables_of_migrations(alias, keys)
    return Targets(tuple(found), tuple(runs), tuple(keys), tuple(unknown))


class UnknownTableError(PilotError, LookupError):
    """A --table that is not in the database."""

    def __init__(self, alias: str, tables: Sequence[str]) -> None:
        self.alias, self.tables = alias, list(tables)

    def __str__(self) -> str:
        return (f"No table {', '.join(self.tables)} in {self.alias!r}; give the database table name (db_table,"
                " e.g. shop_invoice), not the model name.")
