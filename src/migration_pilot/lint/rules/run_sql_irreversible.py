"""RunSQL without reverse_sql: the migration cannot be unapplied.

## What it does
Flags `RunSQL` operations that have no `reverse_sql`. A reverse of
`migrations.RunSQL.noop` counts as reversible: it says, on purpose, that
nothing needs undoing.

## Why is this dangerous?
Django raises `IrreversibleError` when it has to unapply the migration, so a
rollback with `migrate app <earlier migration>` stops at this one, typically in
the middle of an incident. What is left is restoring a backup, or
`migrate --fake`, which leaves the objects the SQL created in place while
Django believes they are gone; the next forward run then fails on them.
See https://docs.djangoproject.com/en/stable/ref/migration-operations/#runsql

## Safe alternative
Give every RunSQL a `reverse_sql` that undoes it, or `migrations.RunSQL.noop`
when nothing needs undoing. The finding writes the reverse for statements it
knows how to undo (CREATE TABLE, CREATE INDEX, ALTER TABLE ... ADD COLUMN):

    from django.db import migrations


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.RunSQL(
                "CREATE TABLE testapp_audit (id integer PRIMARY KEY, note text)",
                reverse_sql="DROP TABLE IF EXISTS testapp_audit",
            ),
        ]

## Not flagged
- `reverse_sql=migrations.RunSQL.noop` (an empty string) or any reverse SQL.
- `RunPython` (see `run-python-irreversible`).

## Databases
All: PostgreSQL, MySQL/MariaDB and SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.db import migrations
from pglast import ast, enums

from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render, sql
from migration_pilot.lint.context import OperationContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.WARNING, category="data")

HINT = (
    "Add reverse_sql: SQL that undoes the change, or migrations.RunSQL.noop when"
    " nothing needs undoing."
)
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")


@rule.on(migrations.RunSQL)
def check_run_sql(ctx: OperationContext, op: migrations.RunSQL) -> Iterator[Finding]:
    if op.reverse_sql is not None:
        return
    yield Finding(
        message=(
            f"RunSQL {excerpt(op.sql)} in {ctx.app_label}.{ctx.migration.name} has no"
            " reverse_sql, so the migration cannot be unapplied and a rollback stops there."
        ),
        hint=HINT,
        safe_alternative=_reversible(ctx, op),
    )


def excerpt(value: Any, limit: int = 80) -> str:
    """The start of the first SQL string, on one line, quoted: enough to recognise it."""
    text = " ".join(next(sql.sql_strings(value), "").split())
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return f'"{text}"'


def _reversible(ctx: OperationContext, op: migrations.RunSQL) -> str:
    reverse = reverse_statements(op.sql, ctx.vendor)
    comment = None
    if reverse is None:
        comment = "Replace the noop with SQL that undoes the change if a rollback must undo it."
    reverse_code: Any = render.raw("migrations.RunSQL.noop") if reverse is None else (
        reverse[0] if len(reverse) == 1 else reverse)
    options: dict[str, Any] = {"reverse_sql": reverse_code}
    if op.state_operations:
        options["state_operations"] = op.state_operations
    return render.migration(
        [render.call("migrations.RunSQL", op.sql, **options)],
        dependencies=ctx.migration.dependencies,
        atomic=ctx.migration.atomic,
        comment=comment,
    )


def reverse_statements(value: Any, vendor: str) -> list[str] | None:
    """SQL undoing every statement of `value`, last first; None when one cannot be undone."""
    reverse: list[str] = []
    for text in sql.sql_strings(value):
        parsed = sql.parse(text)
        if parsed.error is not None or not parsed.statements:
            return None
        for statement in parsed.statements:
            undo = _undo(statement, vendor)
            if undo is None:
                return None
            reverse.extend(undo)
    return list(reversed(reverse)) or None


def _undo(statement: Any, vendor: str) -> list[str] | None:
    if isinstance(statement, ast.CreateStmt) and statement.relation is not None:
        return [f"DROP TABLE IF EXISTS {_quote(statement.relation.relname, vendor)}"]
    if isinstance(statement, ast.IndexStmt) and statement.idxname and statement.relation:
        index = _quote(statement.idxname, vendor)
        if vendor == "mysql":
            return [f"DROP INDEX {index} ON {_quote(statement.relation.relname, vendor)}"]
        concurrently = "CONCURRENTLY " if statement.concurrent and vendor == "postgresql" else ""
        return [f"DROP INDEX {concurrently}IF EXISTS {index}"]
    if isinstance(statement, ast.AlterTableStmt) and statement.relation is not None:
        table = _quote(statement.relation.relname, vendor)
        undo = []
        for cmd in statement.cmds or ():
            if cmd.subtype != enums.AlterTableType.AT_AddColumn or cmd.def_ is None:
                return None
            undo.append(f"ALTER TABLE {table} DROP COLUMN {_quote(cmd.def_.colname, vendor)}")
        return undo or None
    return None


def _quote(name: str | None, vendor: str) -> str:
    name = name or ""
    if _PLAIN_NAME.fullmatch(name):
        return name
    return f"`{name}`" if vendor == "mysql" else '"' + name.replace('"', '""') + '"'
