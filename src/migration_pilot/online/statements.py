"""The online form of each DDL statement Django's PostgreSQL schema editor emits.

A migration that runs in one transaction holds every lock it takes until it
commits, so one slow statement (an index build, a constraint check scanning
the table) blocks the table for the whole migration. `rewrite()` splits such
a statement in two: what still runs in the migration's transaction (cheap,
catalog-only changes under a short lock), and `Step`s that run after it
commits, each in its own transaction or none, taking only locks that let
reads and writes go on:

- CREATE [UNIQUE] INDEX            -> CREATE INDEX CONCURRENTLY IF NOT EXISTS, after commit
- ADD CONSTRAINT ... FOREIGN KEY   -> ... NOT VALID now; VALIDATE CONSTRAINT after commit
- ADD CONSTRAINT ... CHECK         -> ... NOT VALID now; VALIDATE CONSTRAINT after commit
- ADD CONSTRAINT ... UNIQUE (cols) -> unique index CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX
- ALTER COLUMN ... SET NOT NULL    -> CHECK (col IS NOT NULL) NOT VALID, VALIDATE, SET NOT NULL
                                      (no scan: PostgreSQL 12+ uses the valid check), drop the check
- ADD COLUMN ... DEFAULT x NOT NULL, then DROP DEFAULT -> the default is kept for the code still
                                      running (it inserts without the column); `pilot deploy --phase post`
                                      drops it once the new release runs everywhere

Statements are read with PostgreSQL's own parser (pglast) and written back
from the parse tree, never by matching text. Only tables that existed before
the deploy are rewritten: a table the deploy created is empty and nobody
waits on it. Every step is idempotent, so a retry or a resumed run can repeat
it. Anything not recognised runs exactly as Django wrote it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

Quote = Callable[[str], str]

# Cheap pre-filter: only these statements are parsed at all (a deploy from zero runs thousands
# of CREATE TABLE statements that never need it).
_CANDIDATE = re.compile(r"^\s*(CREATE\s+(UNIQUE\s+)?INDEX\b|ALTER\s+TABLE\b)", re.IGNORECASE)
# The table a candidate names, as Django writes it (quoted): when it is one the deploy created, the
# statement runs as written and is never parsed.
_TABLE = re.compile(r'^\s*(?:ALTER\s+TABLE\s+(?:ONLY\s+)?|CREATE\s+(?:UNIQUE\s+)?INDEX\s+\S+\s+ON\s+(?:ONLY\s+)?)'
                    r'"((?:[^"]|"")+)"\s', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Step:
    """One statement of an online form, run after the migration's transaction commits.

    `kind` tells the runner how to make it idempotent and clean up after it:
    "index" (a concurrent build: an INVALID leftover of the same name is
    dropped first, and again if this build fails), "validate", "sql".
    `done_if` is a query that returns a row when the step has already taken
    effect (a resumed or retried run skips it).
    """

    sql: str
    label: str
    kind: str = "sql"
    index: str = ""
    done_if: str = ""


@dataclass(frozen=True, slots=True)
class Deferred:
    """The part of one statement moved after commit.

    `plain` is what would have run in the transaction; the editor runs it
    there after all when a later statement of the same migration refers to
    one of `names` (it would not find the object otherwise).
    """

    table: str
    names: frozenset[str]
    plain: str
    steps: tuple[Step, ...]
    reason: str
    cleanup: tuple[str, ...] = ()
    """Run (errors ignored) when a step fails, to take away what the earlier steps left."""


@dataclass(frozen=True, slots=True)
class Rewrite:
    """What to run instead of one statement: `now` in place, `later` after commit."""

    original: str
    now: tuple[str, ...]
    later: tuple[Deferred, ...] = field(default_factory=tuple)
    kept_defaults: tuple[tuple[str, str], ...] = ()
    """(table, column) whose DROP DEFAULT was left out: the code still running inserts without the column."""


def rewrite(sql: str, *, existing_tables: Collection[str], quote: Quote,
            added_with_default: set[tuple[str, str]] | None = None,
            inspect: Callable[..., Any] | None = None) -> Rewrite | None:
    """The online form of `sql`, or None when it runs as written.

    `existing_tables` are the tables that existed before the deploy (only
    those are rewritten); `quote` is the backend's quote_name.
    `added_with_default` collects the NOT NULL columns added with a default
    (a later DROP DEFAULT of one of them is left out: see Rewrite.kept_defaults).
    `inspect(table, column, new_type)` reads a column's catalog facts
    (swap.ColumnFacts, with whether the change rewrites the table); without
    it, type changes run as written.
    """
    if not _CANDIDATE.match(sql):
        return None
    named = _TABLE.match(sql)
    if named is not None and named.group(1).replace('""', '"') not in existing_tables:
        return None
    try:
        from pglast import parse_sql

        statements = parse_sql(sql)
    except Exception:  # not ours to judge: it runs as written and fails or not on its own
        return None
    if len(statements) != 1:
        return None
    node = statements[0].stmt
    kind = type(node).__name__
    if kind == "IndexStmt":
        return _index(sql, node, existing_tables, quote)
    if kind == "AlterTableStmt":
        return _alter_table(sql, node, existing_tables, quote,
                            added_with_default if added_with_default is not None else set(), inspect)
    return None


def _table_sql(relation: object, quote: Quote) -> tuple[str, str]:
    """(bare table name, quoted possibly schema-qualified name) of a RangeVar."""
    name = str(getattr(relation, "relname", ""))
    schema = getattr(relation, "schemaname", None)
    return name, (f"{quote(schema)}.{quote(name)}" if schema else quote(name))


def _deparse(node: Any) -> str:
    from pglast.stream import RawStream

    return str(RawStream()(node))


def index_step(create_sql: str, name: str, table: str) -> Step:
    """A concurrent, idempotent index build."""
    return Step(create_sql, f"build index {name} on {table} concurrently", kind="index", index=name)


def _index(sql: str, node: object, existing: Collection[str], quote: Quote) -> Rewrite | None:
    relation = getattr(node, "relation", None)
    table, _ = _table_sql(relation, quote)
    name = getattr(node, "idxname", None)
    if getattr(node, "concurrent", False) or not name or table not in existing:
        return None
    node.concurrent = True  # type: ignore[attr-defined]
    node.if_not_exists = True  # type: ignore[attr-defined]
    build = index_step(_deparse(node), name, table)
    what = "unique index" if getattr(node, "unique", False) else "index"
    deferred = Deferred(table, frozenset({name}), sql, (build,),
                        f"CREATE INDEX holds a SHARE lock on {table} (writes wait) until the {what} is built;"
                        " built CONCURRENTLY after the migration's transaction commits instead")
    return Rewrite(sql, (), (deferred,))


def _alter_table(sql: str, node: object, existing: Collection[str], quote: Quote,
                 added_with_default: set[tuple[str, str]],
                 inspect: Callable[..., Any] | None = None) -> Rewrite | None:
    from pglast import enums

    relation = getattr(node, "relation", None)
    table, table_sql = _table_sql(relation, quote)
    if table not in existing or getattr(node, "objtype", None) not in (None, enums.ObjectType.OBJECT_TABLE):
        return None
    kept: list[object] = []
    later: list[Deferred] = []
    kept_defaults: list[tuple[str, str]] = []
    for cmd in getattr(node, "cmds", None) or ():
        subtype = getattr(cmd, "subtype", None)
        if subtype == enums.AlterTableType.AT_AddColumn and _not_null_with_default(getattr(cmd, "def_", None)):
            added_with_default.add((table, str(cmd.def_.colname)))  # type: ignore[attr-defined]
        if (subtype == enums.AlterTableType.AT_ColumnDefault and getattr(cmd, "def_", None) is None
                and (table, str(getattr(cmd, "name", ""))) in added_with_default):
            kept_defaults.append((table, str(cmd.name)))  # type: ignore[attr-defined]
            continue
        moved = _command(cmd, table, table_sql, quote) or _type_change(cmd, table, table_sql, quote, inspect)
        if moved is None:
            kept.append(cmd)
            continue
        keep, deferred = moved
        if keep is not None:
            kept.append(keep)
        later.append(deferred)
    if not later and not kept_defaults:
        return None
    now: tuple[str, ...] = ()
    if kept:
        node.cmds = tuple(kept)  # type: ignore[attr-defined]
        now = (_deparse(node),)
    return Rewrite(sql, now, tuple(later), tuple(kept_defaults))


def _not_null_with_default(column: Any) -> bool:
    """Whether a ColumnDef is NOT NULL with a DEFAULT (what Django adds, then drops the default of)."""
    from pglast import enums

    kinds = {getattr(c, "contype", None) for c in getattr(column, "constraints", None) or ()}
    return enums.ConstrType.CONSTR_DEFAULT in kinds and (
        enums.ConstrType.CONSTR_NOTNULL in kinds or bool(getattr(column, "is_not_null", False)))


def _command(cmd: object, table: str, table_sql: str, quote: Quote) -> tuple[object | None, Deferred] | None:
    """(what stays in the transaction, what moves after commit) for one ALTER TABLE command."""
    from pglast import enums

    subtype = getattr(cmd, "subtype", None)
    if subtype == enums.AlterTableType.AT_SetNotNull:
        return None, _not_null(str(getattr(cmd, "name", "")), table, table_sql, quote)
    constraint: Any = getattr(cmd, "def_", None)
    if subtype != enums.AlterTableType.AT_AddConstraint or type(constraint).__name__ != "Constraint":
        return None
    name = getattr(constraint, "conname", None)
    contype = getattr(constraint, "contype", None)
    if not name:
        return None
    if contype in (enums.ConstrType.CONSTR_FOREIGN, enums.ConstrType.CONSTR_CHECK):
        if getattr(constraint, "skip_validation", False):
            return None
        plain = f"ALTER TABLE {table_sql} ADD {_deparse(constraint)}"
        constraint.skip_validation = True
        constraint.initially_valid = False
        what = "foreign key" if contype == enums.ConstrType.CONSTR_FOREIGN else "check constraint"
        lock = ("a SHARE ROW EXCLUSIVE lock on both tables" if contype == enums.ConstrType.CONSTR_FOREIGN
                else "an ACCESS EXCLUSIVE lock")
        validate = Step(f"ALTER TABLE {table_sql} VALIDATE CONSTRAINT {quote(name)}",
                        f"validate {what} {name} on {table}", kind="validate")
        return cmd, Deferred(table, frozenset(), plain, (validate,),
                             f"adding the {what} scans {table} under {lock} (writes wait); added NOT VALID"
                             " in the transaction and validated after commit, which lets reads and writes go on")
    if contype == enums.ConstrType.CONSTR_UNIQUE:
        return _unique(constraint, name, table, table_sql, quote)
    return None


def _type_change(cmd: Any, table: str, table_sql: str, quote: Quote,
                 inspect: Callable[..., Any] | None) -> tuple[None, Deferred] | None:
    """A column type change that would rewrite the table: swapped in online instead."""
    from pglast import enums

    from migration_pilot.online.swap import swap_step

    if inspect is None or getattr(cmd, "subtype", None) != enums.AlterTableType.AT_AlterColumnType:
        return None
    definition = getattr(cmd, "def_", None)
    type_name = getattr(definition, "typeName", None)
    if type_name is None or getattr(definition, "collClause", None) is not None:
        return None
    using = getattr(definition, "raw_default", None)
    column = str(getattr(cmd, "name", ""))
    if using is not None and not _plain_cast_of(using, column):
        return None  # a USING expression of the author's: runs as written
    new_type = _deparse(type_name)
    facts = inspect(table, column, new_type)
    if facts is None or facts.blockers or not facts.rewrites:
        return None  # catalog-only (PostgreSQL said so), or a column the swap cannot take
    plain = f"ALTER TABLE {table_sql} ALTER COLUMN {quote(column)} TYPE {new_type} USING {quote(column)}::{new_type}"
    return None, Deferred(table, frozenset({column}), plain, (swap_step(table, column, new_type),),
                          f"changing {table}.{column} to {new_type} rewrites the table under an ACCESS EXCLUSIVE"
                          " lock (reads and writes wait); done online instead: a new column kept in sync by a"
                          " trigger, copied in batches, indexes built concurrently, swapped in under a short lock")


def _plain_cast_of(node: Any, column: str) -> bool:
    """Whether a USING expression is just `column::type` (what Django writes)."""
    arg = getattr(node, "arg", None)
    fields: list[Any] = list(getattr(arg, "fields", None) or ())
    return type(node).__name__ == "TypeCast" and len(fields) == 1 and getattr(fields[0], "sval", None) == column


def _unique(constraint: object, name: str, table: str, table_sql: str,
            quote: Quote) -> tuple[object | None, Deferred] | None:
    keys = [str(getattr(k, "sval", k)) for k in getattr(constraint, "keys", None) or ()]
    if (not keys or getattr(constraint, "including", None) or getattr(constraint, "indexname", None)
            or getattr(constraint, "options", None) or getattr(constraint, "indexspace", None)):
        return None  # a form the USING INDEX recipe does not cover: runs as written
    nulls = " NULLS NOT DISTINCT" if getattr(constraint, "nulls_not_distinct", False) else ""
    columns = ", ".join(quote(k) for k in keys)
    deferrable = ""
    if getattr(constraint, "deferrable", False):
        deferrable = " DEFERRABLE" + (" INITIALLY DEFERRED" if getattr(constraint, "initdeferred", False) else "")
    plain = f"ALTER TABLE {table_sql} ADD {_deparse(constraint)}"
    build = index_step(f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {quote(name)} ON {table_sql}"
                       f" ({columns}){nulls}", name, table)
    attach = Step(f"ALTER TABLE {table_sql} ADD CONSTRAINT {quote(name)} UNIQUE USING INDEX {quote(name)}{deferrable}",
                  f"attach unique index {name} to {table} as its constraint",
                  done_if=f"SELECT 1 FROM pg_constraint WHERE conname = {_literal(name)}"
                          f" AND conrelid = {_literal(table_sql)}::regclass")
    return None, Deferred(table, frozenset({name}), plain, (build, attach),
                          f"ADD CONSTRAINT UNIQUE builds its index under an ACCESS EXCLUSIVE lock on {table}"
                          " (reads and writes wait); the index is built CONCURRENTLY after commit and attached"
                          " with USING INDEX, a catalog-only change",
                          cleanup=(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(name)}",))


def check_name(table: str, column: str) -> str:
    """The temporary CHECK (column IS NOT NULL) constraint's name: stable, at most 63 bytes."""
    digest = hashlib.sha256(f"{table}.{column}".encode()).hexdigest()[:8]
    return f"{column[:40]}_notnull_{digest}"


def _not_null(column: str, table: str, table_sql: str, quote: Quote) -> Deferred:
    check = check_name(table, column)
    exists = (f"SELECT 1 FROM pg_constraint WHERE conname = {_literal(check)}"
              f" AND conrelid = {_literal(table_sql)}::regclass")
    set_already = (f"SELECT 1 FROM pg_attribute WHERE attrelid = {_literal(table_sql)}::regclass"
                   f" AND attname = {_literal(column)} AND attnotnull")
    steps = (
        Step(f"ALTER TABLE {table_sql} ADD CONSTRAINT {quote(check)} CHECK ({quote(column)} IS NOT NULL) NOT VALID",
             f"add CHECK ({column} IS NOT NULL) NOT VALID on {table}", done_if=f"{exists} UNION ALL {set_already}"),
        Step(f"ALTER TABLE {table_sql} VALIDATE CONSTRAINT {quote(check)}",
             f"validate the NOT NULL check on {table}.{column}", kind="validate",
             done_if=f"SELECT 1 WHERE NOT EXISTS ({exists}) AND EXISTS ({set_already})"),
        Step(f"ALTER TABLE {table_sql} ALTER COLUMN {quote(column)} SET NOT NULL",
             f"set {table}.{column} NOT NULL (the valid check spares the scan)", done_if=set_already),
        Step(f"ALTER TABLE {table_sql} DROP CONSTRAINT IF EXISTS {quote(check)}",
             f"drop the temporary NOT NULL check on {table}.{column}"),
    )
    return Deferred(table, frozenset({column}), f"ALTER TABLE {table_sql} ALTER COLUMN {quote(column)} SET NOT NULL",
                    steps, f"SET NOT NULL scans {table} under an ACCESS EXCLUSIVE lock (reads and writes wait);"
                    " proven by a NOT VALID check validated after commit instead, then set without a scan",
                    cleanup=(steps[-1].sql,))


def _literal(value: str) -> str:
    """A SQL string literal (for catalog lookups of names we already hold)."""
    return "'" + value.replace("'", "''") + "'"
