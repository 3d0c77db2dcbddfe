"""REINDEX without CONCURRENTLY in RunSQL.

## What it does
Flags RunSQL `REINDEX INDEX | TABLE | SCHEMA | DATABASE | SYSTEM` without the
`CONCURRENTLY` option, and `REINDEX ... CONCURRENTLY` when the target
PostgreSQL (`--pg-version`) is older than 12, where it does not exist.

## Why is this dangerous?
`REINDEX` holds a SHARE lock on the table, so INSERT, UPDATE and DELETE wait
for the whole rebuild, and an ACCESS EXCLUSIVE lock on each index it rebuilds.
The planner takes a lock on every index of a table it plans a query for, so in
practice most SELECTs on the table wait too. On a large table that is minutes
of outage; `REINDEX SCHEMA` or `DATABASE` does it to table after table.
See https://www.postgresql.org/docs/current/sql-reindex.html#SQL-REINDEX-CONCURRENTLY

## Safe alternative
Rebuild with `REINDEX ... CONCURRENTLY` (PostgreSQL 12 and later) in a
migration with `atomic = False`, since it cannot run in a transaction:

    from django.db import migrations


    class Migration(migrations.Migration):
        atomic = False
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.RunSQL(
                "REINDEX INDEX CONCURRENTLY invoice_status_idx",
                migrations.RunSQL.noop,
            ),
        ]

Before PostgreSQL 12, build a replacement with `CREATE INDEX CONCURRENTLY`,
drop the old index with `DROP INDEX CONCURRENTLY` and rename the new one.
`REINDEX SYSTEM` has no concurrent form: it belongs in a maintenance window,
not in a migration.

## Not flagged
- `REINDEX ... CONCURRENTLY` on PostgreSQL 12 and later (see
  `concurrent-in-atomic`: it still needs `atomic = False`).
- `REINDEX TABLE` of a table created earlier in the same migration.
- MySQL/MariaDB and SQLite: RunSQL for them is not parsed as PostgreSQL.

## Databases
PostgreSQL (all supported versions; `CONCURRENTLY` from 12).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import ReindexObjectType
from pglast.stream import RawStream

from migration_pilot.analysis.schema import table_of
from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql"}, category="locks")

HINT = "Use REINDEX ... CONCURRENTLY in a migration with atomic = False."
OLD_PG_HINT = (
    "PostgreSQL {major} has no REINDEX CONCURRENTLY (added in 12): build a replacement with"
    " CREATE INDEX CONCURRENTLY, drop the old index with DROP INDEX CONCURRENTLY, then rename."
)
SYSTEM_HINT = "REINDEX SYSTEM has no concurrent form: run it in a maintenance window, not a migration."
_KIND_WORD = {
    ReindexObjectType.REINDEX_OBJECT_INDEX: "INDEX",
    ReindexObjectType.REINDEX_OBJECT_TABLE: "TABLE",
    ReindexObjectType.REINDEX_OBJECT_SCHEMA: "SCHEMA",
    ReindexObjectType.REINDEX_OBJECT_SYSTEM: "SYSTEM",
    ReindexObjectType.REINDEX_OBJECT_DATABASE: "DATABASE",
}
_FALSE_WORDS = frozenset({"false", "off", "no", "0", "f", "n"})


def reindex_is_concurrent(stmt: ast.ReindexStmt) -> bool:
    """Whether REINDEX has CONCURRENTLY on (as PostgreSQL's defGetBoolean reads the option)."""
    for param in stmt.params or ():
        if not isinstance(param, ast.DefElem) or param.defname != "concurrently":
            continue
        arg: Any = param.arg
        if arg is None:
            return True
        if isinstance(arg, ast.Integer):
            return bool(arg.ival)
        return str(getattr(arg, "sval", "true")).lower() not in _FALSE_WORDS
    return False


def _index_table(ctx: SqlContext, name: str) -> str | None:
    """The table of an index Django's state knows by `name`."""
    for model in ctx.state.models.values():
        named = [*(model.options.get("indexes") or ()), *(model.options.get("constraints") or ())]
        if any(getattr(item, "name", None) == name for item in named):
            return table_of(model, ctx.profile.max_name_length())
    return None


def _concurrent_sql(stmt: ast.ReindexStmt) -> str:
    """`stmt` with CONCURRENTLY after the kind word (the form PostgreSQL 12 and 13 accept too)."""
    others = tuple(p for p in stmt.params or ()
                   if not (isinstance(p, ast.DefElem) and p.defname == "concurrently"))
    full = str(RawStream()(ast.ReindexStmt(kind=stmt.kind, relation=stmt.relation,
                                           name=stmt.name, params=others or None)))
    bare = str(RawStream()(ast.ReindexStmt(kind=stmt.kind, relation=stmt.relation,
                                           name=stmt.name)))
    options = full[len("REINDEX"):len(full) - len(bare) + len("REINDEX")]
    word = _KIND_WORD.get(stmt.kind) if stmt.kind is not None else None
    if word is None:
        return full
    target = bare[len(f"REINDEX {word}"):]
    return f"REINDEX{options} {word} CONCURRENTLY{target}"


def _target(ctx: SqlContext, stmt: ast.ReindexStmt) -> tuple[str, str | None, str]:
    """(what is rebuilt, its table if one, where writes wait) for the message and the lock."""
    kind = stmt.kind
    if kind == ReindexObjectType.REINDEX_OBJECT_TABLE and stmt.relation is not None:
        table = str(stmt.relation.relname)
        return f"the indexes of {table}", table, table
    if kind == ReindexObjectType.REINDEX_OBJECT_INDEX and stmt.relation is not None:
        name = str(stmt.relation.relname)
        owner = _index_table(ctx, name)
        return f"index {name}", owner, owner or "its table"
    if kind == ReindexObjectType.REINDEX_OBJECT_SCHEMA:
        return f"every index in schema {stmt.name}", None, "each table"
    if kind == ReindexObjectType.REINDEX_OBJECT_SYSTEM:
        return "the system catalogs' indexes", None, "each catalog"
    return "every index in the database", None, "each table"


@rule.on_sql(ast.ReindexStmt)
def check_sql(ctx: SqlContext, stmt: ast.ReindexStmt) -> Iterator[Finding]:
    what, table, where = _target(ctx, stmt)
    major = int(getattr(ctx.profile, "major", 12))
    if reindex_is_concurrent(stmt):
        if major < 12:
            yield Finding(
                message=(f"REINDEX CONCURRENTLY needs PostgreSQL 12; the target is PostgreSQL"
                         f" {major}, where rebuilding {what} fails."),
                hint=OLD_PG_HINT.format(major=major),
            )
        return
    if table is not None and ctx.is_new_table(table):
        return
    message = (f"Rebuilding {what} with REINDEX blocks writes on {where}, and reads that use"
               " its indexes, until the rebuild ends.")
    lock = ctx.lock(DDL.REINDEX, table) if table is not None else None
    if stmt.kind == ReindexObjectType.REINDEX_OBJECT_SYSTEM:
        yield Finding(message, SYSTEM_HINT, lock)
    elif major < 12:
        yield Finding(message, OLD_PG_HINT.format(major=major), lock)
    else:
        code = render.migration(
            [render.call("migrations.RunSQL", _concurrent_sql(stmt),
                         render.raw("migrations.RunSQL.noop"))],
            dependencies=ctx.migration.dependencies,
            atomic=False,
        )
        yield Finding(message, HINT, lock, safe_alternative=code)
