"""A group's plan compiled once into SQL that replays in any tenant schema of that group.

As `sqlmigrate` does: Django's schema editor with `collect_sql=True` against
the rendered project state, on a connection whose search_path is one
representative tenant of the group, so table names stay unqualified and any
introspection the editor does (constraint names) reads a schema of the same
shape. RunPython cannot be compiled; nor can a non-atomic migration run in
the one transaction a tenant's replay uses: those groups take the slower
path, Django's executor per tenant.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import RunPython

from migration_pilot.fleet.applied import Applied
from migration_pilot.types import MigrationKey


@dataclass
class Script:
    """What one group needs: its plan, and the SQL to replay when it can be compiled."""

    keys: list[MigrationKey]
    statements: list[str] = field(default_factory=list)
    runs_python: list[MigrationKey] = field(default_factory=list)
    non_atomic: list[MigrationKey] = field(default_factory=list)
    backwards: bool = False

    @property
    def replayable(self) -> bool:
        """Whether the SQL can be replayed per tenant (else Django's executor runs per tenant)."""
        return not (self.runs_python or self.non_atomic or self.backwards)

    @property
    def sql(self) -> str:
        """The statements as one script."""
        return "\n".join(self.statements)


@contextlib.contextmanager
def in_schema(connection: Any, schema: str, shared: Sequence[str] = ()) -> Iterator[None]:
    """Point the Django connection at `schema` (then `shared`) for the block, and back afterwards.

    django-tenants' backend keeps the schema on the connection (and its router
    reads it): it is told through its own `set_schema`. django-pgschemas keeps
    the active schema in a context variable that its router reads (the apps of
    that schema) and its backend turns into the search_path of every new
    cursor: without activating it there, the router would judge every tenant
    as public and the schema editor would skip the tenant apps' operations.
    """
    if hasattr(connection, "set_schema") and hasattr(connection, "set_schema_to_public"):
        connection.set_schema(schema)
        try:
            yield
        finally:
            connection.set_schema_to_public()
        return
    with _pgschemas_active(schema), _search_path(connection, schema, shared):
        yield


@contextlib.contextmanager
def _pgschemas_active(schema: str) -> Iterator[None]:
    """django-pgschemas' active schema for the block, when that package is installed."""
    if not apps.is_installed("django_pgschemas"):
        yield
        return
    module = importlib.import_module("django_pgschemas.schema")  # optional: not a dependency of ours
    with module.Schema.create(schema):  # its own activation; its __exit__ restores the previous schema
        yield


@contextlib.contextmanager
def _search_path(connection: Any, schema: str, shared: Sequence[str]) -> Iterator[None]:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('search_path')")
        previous = cursor.fetchone()[0]
        cursor.execute(f"SET search_path TO {', '.join(quote(s) for s in (schema, *shared))}")
    try:
        yield
    finally:
        if connection.connection is not None:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('search_path', %s, false)", [previous])


def with_applied(executor: MigrationExecutor, applied: Applied) -> MigrationExecutor:
    """`executor` made to see `applied` as the applied set (no query)."""
    executor.loader.applied_migrations = {key: None for key in sorted(applied)}  # type: ignore[assignment]
    return executor


def plan_for(executor: MigrationExecutor, applied: Applied, targets: list[MigrationKey]) -> Script:
    """The plan from `applied` to `targets`, and why it cannot be replayed as SQL, if it cannot."""
    plan = with_applied(executor, applied).migration_plan(targets)
    script = Script([(m.app_label, m.name) for m, _ in plan], backwards=any(b for _, b in plan))
    for migration, _backwards in plan:
        key = (migration.app_label, migration.name)
        if any(isinstance(op, RunPython) for op in migration.operations):
            script.runs_python.append(key)
        if not migration.atomic:
            script.non_atomic.append(key)
    return script


def compile_script(connection: Any, executor: MigrationExecutor, applied: Applied, script: Script) -> Script:
    """Fill `script.statements` (the connection must already point at a tenant of the group)."""
    if not script.replayable or not script.keys:
        return script
    with_applied(executor, applied)
    state = executor._create_project_state(with_applied_migrations=True)
    for key in script.keys:
        migration = executor.loader.graph.nodes[key]
        with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            state = migration.apply(state, editor, collect_sql=True)
        script.statements.extend(editor.collected_sql)
    return script
