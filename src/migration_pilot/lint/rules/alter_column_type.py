"""Changing a column's type in a way that rewrites or copies the table.

## What it does
Flags `AlterField` whose database column type changes (compared as Django
computes it for the target database: field class, `max_length`,
`max_digits`, `decimal_places`) on a table created before this migration,
and RunSQL `ALTER TABLE ... ALTER COLUMN ... TYPE` on PostgreSQL. Changes the
database makes in its catalog only are left alone (see "Not flagged").

## Why is this dangerous?
PostgreSQL rewrites the whole table, and rebuilds its indexes, under ACCESS
EXCLUSIVE: no query can read or write the table until every row is converted.
MySQL/MariaDB copy the table (`ALGORITHM=COPY`), blocking writes for the
whole copy. Either way the outage grows with the table. Code that is still
running may also break on the new type (an integer column that now holds
text).
See https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES
and https://dev.mysql.com/doc/refman/8.0/en/innodb-online-ddl-operations.html#online-ddl-column-operations

## Safe alternative
Expand and contract, one release each. First add a new column of the new
type, nullable, so nothing is rewritten:

    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.AddField("invoice", "number_new", models.IntegerField(null=True)),
        ]

Then: 1. write both columns from the code; 2. backfill `number_new` in
batches; 3. read `number_new`; 4. stop writing `number`; 5. remove `number`
(and rename in the state only with `db_column`, see `rename-column`).
The finding renders these steps with your names.

## Not flagged
- Tables created earlier in the same migration, unmanaged and proxy models.
- PostgreSQL changes that only touch the catalog (binary-coercible, no
  rewrite): `varchar(n)` to `varchar(m)` with m >= n, `varchar(n)` to
  unlimited `varchar` or `text`, `text` to `varchar`, `numeric(p, s)` to
  `numeric(p2, s)` with p2 >= p, or to unconstrained `numeric`.
- MySQL/MariaDB: widening a `varchar` while its length prefix stays 1 byte
  (up to 255 bytes) or stays 2 bytes (INPLACE, LOCK=NONE). Bytes are counted
  as 4 per character (utf8mb4, Django's recommended charset); on MariaDB
  10.11, varchar(20) to varchar(50) runs in place, varchar(50) to varchar(100)
  needs COPY. MariaDB (10.4+) also extends in place a varchar of at most 127
  bytes past 255 bytes (varchar(20) to varchar(100)); the rule follows MySQL's
  documented limit there, since lint cannot tell the two servers apart.
- A ForeignKey whose column keeps its type. A ForeignKey's column has the
  type of the field it references (bigint for a BigAutoField), so turning it
  into a CharField, or a CharField into a ForeignKey, is a type change and is
  flagged.
- Generated fields, and custom fields whose type cannot be computed without a
  database.
- SQLite: it rebuilds the table for every `AlterField`; it has no concurrent
  production traffic worth protecting.

## Databases
PostgreSQL and MySQL/MariaDB, each with its own list of changes that stay cheap.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, NamedTuple

from django.db import migrations
from django.db.models import Field
from pglast import ast, parse_sql
from pglast.enums import AlterTableType
from pglast.stream import RawStream

from migration_pilot.analysis.schema import columns_of, find_model, related_model_key
from migration_pilot.backends import column_types
from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql", "mysql"}, category="locks")

HINT = (
    "Add a new column of the new type, write both, backfill in batches, switch reads, then drop"
    " the old column."
)
_MYSQL_BYTES_PER_CHAR = 4
_CHAR_TYPES = {"CharField", "SlugField", "FileField", "FilePathField"}
_MYSQL_TYPE = re.compile(r"^\s*(\w+)\s*(?:\(([\d,\s]+)\))?(.*)$")


class ColumnType(NamedTuple):
    """A database type as a name, its numeric modifiers, and how users write it."""

    name: str
    mods: tuple[int, ...]
    text: str


def _data_types(vendor: str) -> dict[str, Any] | None:
    """Django's field-to-type table for `vendor`, read without importing its driver."""
    return column_types.data_types(vendor)


def _fallback_type(field: Field, vendor: str) -> str:
    """The column type from the field's parameters alone (Django's table could not be read)."""
    internal = field.get_internal_type()
    if internal in _CHAR_TYPES:
        length = getattr(field, "max_length", None)
        return f"varchar({length})" if length else "varchar"
    if internal == "TextField":
        return "text" if vendor == "postgresql" else "longtext"
    if internal == "DecimalField":
        digits: Any = getattr(field, "max_digits", None)
        places: Any = getattr(field, "decimal_places", None)
        return f"numeric({digits}, {places})"
    return str(internal).lower()


def _db_type(field: Field, vendor: str, *, referenced: bool = False) -> str | None:
    """What Django's schema editor would write for `field` on `vendor`, computed offline.

    `referenced`: the type of a foreign key pointing at `field` (an AutoField's is integer).
    """
    if field.is_relation or getattr(field, "generated", False):
        return None
    types = _data_types(vendor)
    if types is None:
        return _fallback_type(field, vendor)
    connection = SimpleNamespace(
        vendor=vendor, data_types=types, ops=SimpleNamespace(quote_name=lambda n: f'"{n}"'),
    )
    try:
        db_type: Any = (field.rel_db_type(connection) if referenced  # type: ignore[arg-type]
                        else field.db_type(connection))  # type: ignore[arg-type]
    except Exception:  # a custom field that needs a real connection: we cannot tell
        return None
    return str(db_type) if db_type else None


def _referenced_field(ctx: OperationContext, model_name: str, field: Field) -> Field | None:
    """The field a ForeignKey/OneToOneField points at, from the migration state."""
    remote: Any = field.remote_field
    key = related_model_key(field, ctx.app_label)
    if key is None and getattr(remote, "model", None) == "self":
        key = (ctx.app_label, model_name.lower())
    target = find_model(ctx.state, *key) if key is not None else None
    if target is None:
        return None
    to_field = getattr(remote, "field_name", None)
    for name, candidate in target.fields.items():
        if (to_field and name == to_field) or (not to_field and candidate.primary_key):
            return candidate  # type: ignore[no-any-return]
    return None


def _state_column_type(ctx: OperationContext, model_name: str, field: Field) -> ColumnType | None:
    """The column type, following a foreign key to the type of the field it references."""
    if not field.is_relation:
        return column_type(field, ctx.vendor)
    if field.many_to_many:
        return None
    target = _referenced_field(ctx, model_name, field)
    if target is None or target.is_relation:
        return None
    text = _db_type(target, ctx.vendor, referenced=True)
    return _parse(text, ctx.vendor) if text else None


@functools.lru_cache(maxsize=256)
def _parse(text: str, vendor: str) -> ColumnType | None:
    if vendor == "mysql":
        match = _MYSQL_TYPE.match(text.lower())
        if match is None:
            return None
        mods = tuple(int(m) for m in (match.group(2) or "").split(",") if m.strip())
        return ColumnType(f"{match.group(1)}{match.group(3).rstrip()}", mods, text)
    try:
        select: Any = parse_sql(f"SELECT CAST(NULL AS {text})")[0].stmt
    except Exception:  # not a type pglast knows: compare the text
        return ColumnType(text.lower(), (), text)
    return _from_type_name(select.targetList[0].val.typeName, text)


def _from_type_name(type_name: Any, text: str | None = None) -> ColumnType:
    name = str(type_name.names[-1].sval)
    mods = tuple(int(m.val.ival or 0) for m in type_name.typmods or ()
                 if isinstance(m, ast.A_Const) and isinstance(m.val, ast.Integer))
    if type_name.arrayBounds:
        name += "[]"
    return ColumnType(name, mods, text or str(RawStream()(type_name)))


def metadata_only(vendor: str, old: ColumnType, new: ColumnType) -> bool:
    """Whether changing `old` to `new` leaves the rows alone on `vendor`."""
    if (old.name, old.mods) == (new.name, new.mods):
        return True
    if vendor == "mysql":
        if old.name != "varchar" or new.name != "varchar" or not old.mods or not new.mods:
            return False
        before, after = (m[0] * _MYSQL_BYTES_PER_CHAR for m in (old.mods, new.mods))
        return after >= before and (before <= 255) == (after <= 255)
    if old.name in {"varchar", "text"} and (new.name == "text" or (new.name, new.mods) == (
            "varchar", ())):
        return True
    if old.name == new.name == "varchar":
        return bool(old.mods and new.mods) and new.mods[0] >= old.mods[0]
    if old.name == new.name == "numeric":
        return not new.mods or (len(old.mods) == len(new.mods) == 2
                                and new.mods[0] >= old.mods[0] and new.mods[1] == old.mods[1])
    return False


def column_type(field: Field, vendor: str) -> ColumnType | None:
    """The parsed column type of `field` on `vendor`, or None when it cannot be known offline."""
    text = _db_type(field, vendor)
    return _parse(text, vendor) if text else None


def _message(table: str, column: str, old: ColumnType | None, new: ColumnType,
             blocks: str) -> str:
    change = f"from {old.text} to {new.text}" if old else f"to {new.text}"
    return (
        f"Changing the type of {column} on {table} {change} rewrites {table}, blocking"
        f" {blocks} until every row is converted."
    )


def _alternative(ctx: OperationContext, op: migrations.AlterField) -> str:
    _, _, args, kwargs = op.field.deconstruct()
    for key in ("unique", "db_index", "primary_key"):
        kwargs.pop(key, None)
    kwargs["null"] = True
    new_name = f"{op.name}_new"
    code = render.migration(
        [render.call("migrations.AddField", op.model_name, new_name,
                     type(op.field)(*args, **kwargs))],
        dependencies=ctx.migration.dependencies,
    )
    steps = render.steps(
        f"deploy code that writes both {op.name} and {new_name};",
        f"backfill {new_name} from {op.name} in batches (RunPython with atomic = False);",
        f"make {new_name} NOT NULL / unique if needed (see set-not-null, add-unique-non-concurrent);",
        f"deploy code that reads {new_name};",
        f"stop writing {op.name}, then remove it in a later release.",
    )
    why = ("# No contract step is generated: between the backfill and the swap your code must start reading"
           f"\n# {new_name} (a release of yours, not a migration), and the swap ends with {new_name}"
           f" renamed to {op.name},\n# whose indexes and constraints keep names made for {new_name}: not"
           " the original migration's schema.")
    return code + "\n" + why + "\n# Then:\n" + "\n".join(f"# {line}" for line in steps.splitlines()) + "\n"


@rule.on(migrations.AlterField)
def check_alter_field(ctx: OperationContext, op: migrations.AlterField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    model = ctx.model(op.model_name)
    old_field = ctx.field(op.model_name, op.name)
    if old_field is None or model is None or ctx.is_new_table(table):
        return
    if model.options.get("managed", True) is False or model.options.get("proxy"):
        return
    old = _state_column_type(ctx, op.model_name, old_field)
    new = _state_column_type(ctx, op.model_name, op.field)
    column = ctx.column(op.name, op.field)
    if old is None or new is None or column is None or metadata_only(ctx.vendor, old, new):
        return
    lock = ctx.lock(DDL.ALTER_TYPE, table)
    yield Finding(
        message=_message(table, column, old, new, lock.blocks.describe()),
        hint=HINT,
        lock=lock,
        safe_alternative=_alternative(ctx, op),
    )


def _plain_cast(using: Any, column: str) -> bool:
    """USING col::type (what Django writes) lets PostgreSQL judge the cast; anything else rewrites."""
    if using is None:
        return True
    if not isinstance(using, ast.TypeCast) or not isinstance(using.arg, ast.ColumnRef):
        return False
    fields = using.arg.fields or ()
    return bool(fields) and getattr(fields[-1], "sval", None) == column


@rule.on_sql(ast.AlterTableStmt)
def check_sql(ctx: SqlContext, stmt: ast.AlterTableStmt) -> Iterator[Finding]:
    if ctx.vendor != "postgresql" or stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    if ctx.is_new_table(table):
        return
    model = ctx.model_for_table(table)
    for cmd in stmt.cmds or ():
        definition = getattr(cmd, "def_", None)
        if (getattr(cmd, "subtype", None) != AlterTableType.AT_AlterColumnType
                or not isinstance(definition, ast.ColumnDef) or definition.typeName is None):
            continue
        column = str(cmd.name)
        new = _from_type_name(definition.typeName)
        field_name = columns_of(model).get(column) if model is not None else None
        old_field = model.fields.get(field_name) if model is not None and field_name else None
        old = column_type(old_field, ctx.vendor) if old_field is not None else None
        if old is not None and _plain_cast(definition.raw_default, column) and metadata_only(
                ctx.vendor, old, new):
            continue
        lock = ctx.lock(DDL.ALTER_TYPE, table)
        yield Finding(
            message=_message(table, column, old, new, lock.blocks.describe()),
            hint="Add a new column, backfill it in batches, switch reads, then drop the old one.",
            lock=lock,
        )
