"""A PostgreSQL-only operation in a project that also targets another database.

## What it does
Flags, when the project targets a database other than PostgreSQL:
`--vendor` names one; or lint judges the settings' own database (no
`--vendor`, or the same vendor) and an engine in `DATABASES` is MySQL/MariaDB,
SQLite or Oracle; or the `vendors` setting (`[tool.migration_pilot]` in
pyproject.toml or `settings.MIGRATION_PILOT`, e.g. `vendors = ["postgresql",
"mysql"]`) names one:
- `AddIndexConcurrently`, `RemoveIndexConcurrently`, `AddConstraintNotValid`
  and `ValidateConstraint` from `django.contrib.postgres.operations`;
- `RunSQL` whose SQL uses PostgreSQL-only syntax (`CONCURRENTLY`,
  `NOT VALID`, `VALIDATE CONSTRAINT`), as the PostgreSQL forms other rules
  suggest are written, unless the migration file reads the vendor to pick it.

## Why is this dangerous?
These operations run on every database the migration is applied to, and
only PostgreSQL accepts them: on MySQL/MariaDB or SQLite,
`AddIndexConcurrently` fails with `TypeError: add_index() got an unexpected
keyword argument 'concurrently'`, and the RunSQL forms with a syntax error,
halfway through a deploy. A project whose tests run on SQLite, or that ships
to customers on MySQL, cannot migrate at all.

## Safe alternative
Use an operation every vendor runs. migration_pilot's online operations build
the index concurrently on PostgreSQL and plainly elsewhere:

    from django.db import migrations, models

    from migration_pilot.operations import AddIndexOnline


    class Migration(migrations.Migration):
        atomic = False
        dependencies = [("testapp", "0001_initial")]
        operations = [
            AddIndexOnline("order", models.Index(fields=["status"], name="order_status_idx")),
        ]

For RunSQL, run the PostgreSQL statement only there: a `RunPython` that
checks `schema_editor.connection.vendor`, or the plain Django operation
(`pilot deploy` runs it in its online form on PostgreSQL by itself).

## Not flagged
- Projects that target PostgreSQL only (every `DATABASES` engine and
  `--vendor` are PostgreSQL, and `vendors` names no other).
- `--vendor postgresql` with settings for another database and no `vendors`
  setting: the other engine is taken for a development database then
  (`run-python-vendor-branch` covers code that differs per vendor); say
  `vendors` to have it checked too.
- `CreateExtension` and the collation operations: Django skips them on other
  vendors.
- migration_pilot's `*Online` operations and `Backfill`: they run plainly on
  other vendors.

## Databases
MySQL/MariaDB, SQLite and Oracle, and PostgreSQL when `DATABASES` also names
one of them.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import migrations

from migration_pilot.conf import find_pyproject, project_root
from migration_pilot.diagnostics import Severity
from migration_pilot.lint.context import OperationContext
from migration_pilot.lint.registry import Finding, Rule
from migration_pilot.lint.rules.run_python_vendor_branch import reads_vendor

try:
    from django.contrib.postgres.operations import (
        AddConstraintNotValid,
        AddIndexConcurrently,
        RemoveIndexConcurrently,
        ValidateConstraint,
    )
except ImportError:  # no psycopg: no migration can use these operations either
    POSTGRESQL_OPERATIONS: tuple[type, ...] = ()
else:
    POSTGRESQL_OPERATIONS = (AddIndexConcurrently, RemoveIndexConcurrently, AddConstraintNotValid,
                             ValidateConstraint)

rule = Rule(__name__, severity=Severity.ERROR, category="meta", added_in="0.2.0")

POSTGRESQL_SQL = re.compile(r"\bCONCURRENTLY\b|\bNOT\s+VALID\b|\bVALIDATE\s+CONSTRAINT\b", re.IGNORECASE)
ENGINES = (("postgis", "postgresql"), ("postgresql", "postgresql"), ("mysql", "mysql"),
           ("spatialite", "sqlite"), ("sqlite", "sqlite"), ("oracle", "oracle"))


def engine_vendor(engine: str) -> str | None:
    """The vendor of a DATABASES ENGINE path (None for one it does not know)."""
    for needle, vendor in ENGINES:
        if needle in engine:
            return vendor
    return None


def targeted_vendors(ctx: OperationContext) -> set[str]:
    """--vendor's database, the `vendors` setting's, and, when lint judges the settings' own
    database, every DATABASES engine's."""
    found = {ctx.vendor, *_configured_vendors()}
    if ctx.settings_vendor is None:
        for database in getattr(settings, "DATABASES", {}).values():
            vendor = engine_vendor(str(database.get("ENGINE", "")))
            if vendor is not None:
                found.add(vendor)
    return found


def _configured_vendors() -> list[str]:
    """`vendors` from settings.MIGRATION_PILOT, else from [tool.migration_pilot] in pyproject.toml."""
    setting = getattr(settings, "MIGRATION_PILOT", None)
    if isinstance(setting, dict) and "vendors" in setting:
        return [str(v).lower() for v in setting["vendors"] or ()]
    pyproject = find_pyproject(project_root())
    return list(_pyproject_vendors(str(pyproject))) if pyproject is not None else []


@functools.lru_cache(maxsize=8)
def _pyproject_vendors(path: str) -> tuple[str, ...]:
    try:
        table = tomllib.loads(Path(path).read_text()).get("tool", {}).get("migration_pilot", {})
    except (OSError, tomllib.TOMLDecodeError):
        return ()
    return tuple(str(v).lower() for v in table.get("vendors", ()) or ())


def _others(ctx: OperationContext) -> list[str]:
    return sorted(targeted_vendors(ctx) - {"postgresql"})


def _statements(sql: Any) -> list[str]:
    if isinstance(sql, str):
        return [sql]
    if isinstance(sql, list | tuple):
        return [s if isinstance(s, str) else str(s[0]) for s in sql if s]
    return []


@rule.on(*POSTGRESQL_OPERATIONS)
def check_operation(ctx: OperationContext, op: Any) -> Iterator[Finding]:
    others = _others(ctx)
    if not others:
        return
    name = type(op).__name__
    yield Finding(
        message=(f"{name} in {ctx.app_label}.{ctx.migration.name} runs only on PostgreSQL, but the"
                 f" project also targets {', '.join(others)}, where it fails and stops the deploy."),
        hint=("Use an operation every vendor runs: migration_pilot.operations' online forms"
              " (AddIndexOnline, RemoveIndexOnline, AddConstraintOnline) or Django's plain one."),
    )


@rule.on(migrations.RunSQL)
def check_run_sql(ctx: OperationContext, op: migrations.RunSQL) -> Iterator[Finding]:
    others = _others(ctx)
    if not others:
        return
    found = [m.group(0) for s in _statements(op.sql) for m in [POSTGRESQL_SQL.search(s)] if m]
    if not found:
        return
    source = ctx.migration.source()
    if source is not None and source.tree is not None and reads_vendor(source.tree):
        return
    yield Finding(
        message=(f"RunSQL in {ctx.app_label}.{ctx.migration.name} uses PostgreSQL-only SQL"
                 f" ({found[0].upper()}), but the project also targets {', '.join(others)}, where it"
                 " fails with a syntax error."),
        hint=("Run it on PostgreSQL only (a RunPython that checks schema_editor.connection.vendor),"
              " or use the plain Django operation, which pilot deploy runs online on PostgreSQL."),
    )
