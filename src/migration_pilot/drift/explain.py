"""Likely cause and suggested fix for each schema difference.

Two directions of repair are offered where both make sense: put the database
back to what the migrations say (SQL for the verified vendor, quoted with
`connection.ops.quote_name`), or, when the database is right and the
migrations are behind, adopt the change with a ready migration
(`SeparateDatabaseAndState`: state only, no SQL runs). When a missing object
comes from a migration recorded as applied, that migration is named: it was
probably applied with --fake or undone by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Final

from migration_pilot.drift.compare import label
from migration_pilot.drift.differences import Difference
from migration_pilot.drift.model import Catalog, Column, Constraint, Index

Quote = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Origins:
    """Which applied migration created or last altered each table, column, index and constraint."""

    objects: dict[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)
    fields: dict[tuple[str, str], tuple[str, str, Any]] = field(default_factory=dict)
    """(table, column) -> (app_label, model_name, field) from the migration state, for ready migrations."""
    models: dict[str, tuple[str, str]] = field(default_factory=dict)
    """table -> (app_label, model_name)."""
    leaves: dict[str, tuple[str, str]] = field(default_factory=dict)
    vanished: tuple[str, ...] = ()


def origins(loader: Any, applied: Iterable[Any], vanished: Iterable[str] = ()) -> Origins:
    """Scan the applied migrations' operations once (only done when there is something to explain)."""
    from django.db.migrations import operations as ops

    from migration_pilot.analysis.schema import column_of, table_of

    state = loader.project_state()
    tables = {key: table_of(model, 63) for key, model in state.models.items()}
    found: dict[tuple[str, ...], tuple[str, str]] = {}
    for migration in applied:
        key = (migration.app_label, migration.name)
        for op in migration.operations:
            model = getattr(op, "model_name", None) or getattr(op, "name", "")
            table = tables.get((migration.app_label, str(model).lower()), "")
            if isinstance(op, ops.CreateModel):
                found[("table", table)] = key
            elif isinstance(op, ops.AddField | ops.AlterField):
                found[("column", table, column_of(op.name, op.field) or op.name)] = key
            elif isinstance(op, ops.AddIndex):
                found[("index", table, op.index.name)] = key
            elif isinstance(op, ops.AddConstraint):
                found[("constraint", table, op.constraint.name)] = key
    fields: dict[tuple[str, str], tuple[str, str, Any]] = {}
    models: dict[str, tuple[str, str]] = {}
    for (app, model_name), model in state.models.items():
        table = tables[(app, model_name)]
        models[table] = (app, model.name)
        for name, model_field in model.fields.items():
            column = column_of(name, model_field)
            if column:
                fields[(table, column)] = (app, model.name, model_field)
    leaves = {}
    for app, name in loader.graph.leaf_nodes():
        leaves[app] = (app, name)
    return Origins(found, fields, models, leaves, tuple(vanished))


_SQL_ONLY_NOTE: Final = "SQLite cannot alter this in place; rebuild the table with a migration (AlterField) instead."


def explain(differences: Iterable[Difference], *, expected: Catalog, actual: Catalog, vendor: str,
            quote: Quote, origins: Origins | None) -> list[Difference]:
    """The differences with `cause` and `fix` filled in."""
    helper = _Explainer(expected, actual, vendor, quote, origins or Origins())
    return [replace(d, cause=d.cause or helper.cause(d), fix=d.fix or helper.fix(d)) for d in differences]


class _Explainer:
    def __init__(self, expected: Catalog, actual: Catalog, vendor: str, quote: Quote, origins: Origins) -> None:
        self.expected, self.actual, self.vendor, self.q, self.origins = expected, actual, vendor, quote, origins

    # ----- causes -----------------------------------------------------------------------------
    def cause(self, d: Difference) -> str:
        origin = self._origin(d)
        faked = (f"Migration {origin}, recorded as applied, creates it: it was dropped by hand since, the"
                 " migration was applied with --fake, or the database was restored from a backup taken"
                 " before it." if origin else "")
        by_hand = "It was changed by hand (a hotfix in a SQL console) or by a migration whose file changed later."
        vanished = (f" Migrations recorded as applied but missing on disk ({', '.join(self.origins.vanished)})"
                    " may have created it." if self.origins.vanished else "")
        causes = {
            "missing_table": faked or "The table was dropped by hand or never created." + vanished,
            "missing_column": faked or "The column was dropped by hand, or a migration adding it was --fake'd.",
            "missing_index": faked or ("The index was dropped by hand, or a CONCURRENTLY build failed and the"
                                       " broken index was removed."),
            "missing_constraint": faked or "The constraint was dropped by hand (often to load data quickly).",
            "extra_table": "The table was created outside the migrations (by hand, a script or another tool)."
                           + vanished,
            "extra_column": "The column was added by hand, or by a migration that is no longer on disk." + vanished,
            "extra_index": "The index was added by hand (a performance hotfix) and never written into a migration."
                           + vanished,
            "extra_constraint": "The constraint was added by hand or by another tool." + vanished,
            "invalid_index": ("A CREATE INDEX CONCURRENTLY failed or was interrupted (duplicate rows for a unique"
                              " index, a lock or statement timeout, a cancel). PostgreSQL keeps the INVALID index"
                              " and maintains it on every write but never uses it; IF NOT EXISTS hides it."),
            "unvalidated_constraint": ("The constraint was added NOT VALID and never validated: new rows are"
                                       " checked, existing rows are not."),
            "column_type": by_hand, "column_nullability": by_hand, "column_default": by_hand,
            "column_collation": by_hand, "column_identity": by_hand, "column_generated": by_hand,
            "changed_index": by_hand, "changed_constraint": by_hand, "table_option": by_hand,
            "index_name": "Same index, other name: renamed by hand or restored from another environment.",
            "constraint_name": "Same constraint, other name: renamed by hand or restored from another environment.",
            "unmanaged_view": "A view that no migration creates (created by hand, by a tool or for a managed=False"
                              " model). Reported for information; it is not drift.",
            "missing_view": faked or "A view created by a RunSQL migration was dropped.",
            "changed_view": by_hand,
            "extra_sequence": "A sequence created outside the migrations.",
            "missing_sequence": faked or "A sequence created by a RunSQL migration was dropped.",
            "changed_sequence": by_hand,
        }
        text = causes.get(d.kind, by_hand)
        if vanished and vanished not in text and d.kind != "unmanaged_view":
            text += vanished
        return text

    def _origin(self, d: Difference) -> str:
        keys = {"missing_table": ("table", d.table), "missing_column": ("column", d.table, d.object),
                "missing_index": ("index", d.table, d.object), "missing_constraint": ("constraint", d.table, d.object)}
        key = keys.get(d.kind)
        origin = self.origins.objects.get(key) if key else None
        if origin is None and d.kind in {"missing_column", "missing_index", "missing_constraint"}:
            origin = self.origins.objects.get(("table", d.table))
        return f"{origin[0]}.{origin[1]}" if origin else ""

    # ----- fixes ------------------------------------------------------------------------------
    def fix(self, d: Difference) -> str:
        method = getattr(self, f"_fix_{d.kind}", None)
        return str(method(d)) if method else ""

    def _t(self, d: Difference) -> str:
        return self.q(d.table)

    def _find(self, catalog: Catalog, d: Difference, kind: str) -> Any:
        table = catalog.tables.get(d.table)
        if table is None:
            return None
        if kind == "column":
            return table.columns.get(d.object)
        pool: tuple[Index | Constraint, ...] = table.indexes if kind == "index" else table.constraints
        return next((o for o in pool if label(o) == d.object), None)

    def _fix_missing_table(self, d: Difference) -> str:
        origin = self._origin(d)
        if origin:
            app, name = origin.split(".", 1)
            return (f"Run the CREATE statements of {origin} for this table: python manage.py sqlmigrate {app}"
                    f" {name}. Do not re-run the whole migration with --fake tricks: later migrations depend on it.")
        return "Recreate it from the migrations: python manage.py sqlmigrate <app> <migration> shows the SQL."

    def _fix_missing_column(self, d: Difference) -> str:
        column = self._find(self.expected, d, "column")
        if column is None:
            return ""
        sql = f"ALTER TABLE {self._t(d)} ADD COLUMN {self.q(column.name)} {self._column_sql(column)};"
        if not column.nullable and column.default is None:
            sql += " (NOT NULL without a default fails on a table with rows: add it NULL, backfill, then set NOT NULL.)"
        return sql

    def _column_sql(self, column: Column) -> str:
        text = column.type + ("" if column.nullable else " NOT NULL")
        if column.default is not None:
            text += f" DEFAULT {column.default}"
        if column.collation:
            text += f" COLLATE {self.q(column.collation) if self.vendor == 'postgresql' else column.collation}"
        return text

    def _fix_extra_column(self, d: Difference) -> str:
        column = self._find(self.actual, d, "column")
        drop = f"Drop it: ALTER TABLE {self._t(d)} DROP COLUMN {self.q(d.object)};"
        model = self.origins.models.get(d.table)
        if column is None or model is None:
            return drop
        field_code = _field_for(column)
        adopt = _ready_migration(self.origins, model[0], [
            f"migrations.AddField({model[1].lower()!r}, {d.object!r}, {field_code})"])
        return f"{drop} Or, to keep it, add the field to the model and adopt it with:\n{adopt}"

    def _fix_missing_index(self, d: Difference) -> str:
        index = self._find(self.expected, d, "index")
        return self._create_index(d.table, index) if index else ""

    def _create_index(self, table: str, index: Index) -> str:
        unique = "UNIQUE " if index.unique else ""
        if self.vendor == "postgresql":
            return (f"CREATE {unique}INDEX CONCURRENTLY {self.q(index.name)} ON {self.q(table)} USING"
                    f" {index.definition};")
        body = index.definition[index.definition.find("("):]
        return f"CREATE {unique}INDEX {self.q(index.name)} ON {self.q(table)} {body};"

    def _drop_index(self, table: str, name: str) -> str:
        if self.vendor == "postgresql":
            return f"DROP INDEX CONCURRENTLY {self.q(name)};"
        if self.vendor == "mysql":
            return f"DROP INDEX {self.q(name)} ON {self.q(table)};"
        return f"DROP INDEX {self.q(name)};"

    def _fix_extra_index(self, d: Difference) -> str:
        index = self._find(self.actual, d, "index")
        drop = f"Drop it: {self._drop_index(d.table, d.object)}"
        model = self.origins.models.get(d.table)
        if index is None or model is None or not index.columns or "<expression>" in index.columns:
            return drop
        fields = [self._field_name(d.table, c) for c in index.columns]
        if None in fields:
            return drop
        cls = "UniqueConstraint" if index.unique else "Index"
        op = "AddConstraint" if index.unique else "AddIndex"
        adopt = _ready_migration(self.origins, model[0], [
            f"migrations.{op}({model[1].lower()!r}, models.{cls}(fields={fields!r}, name={d.object!r}))"])
        return (f"{drop} Or keep it: declare it in Meta.{'constraints' if index.unique else 'indexes'}"
                f" and adopt it without touching the database:\n{adopt}")

    def _field_name(self, table: str, column: str) -> str | None:
        for (t, c), (_, _, model_field) in self.origins.fields.items():
            if t == table and c == column:
                return str(getattr(model_field, "name", None) or column.removesuffix("_id"))
        return None

    def _fix_invalid_index(self, d: Difference) -> str:
        index = self._find(self.expected, d, "index") or self._find(self.actual, d, "index")
        rebuild = self._create_index(d.table, index) if index else ""
        return (f"{self._drop_index(d.table, d.object)} then {rebuild} For a unique index, remove the duplicate"
                " rows first (the failed build means they exist). PostgreSQL 12+: REINDEX INDEX CONCURRENTLY"
                f" {self.q(d.object)}; does both.")

    def _fix_changed_index(self, d: Difference) -> str:
        index = self._find(self.expected, d, "index")
        return f"{self._drop_index(d.table, d.object)} {self._create_index(d.table, index)}" if index else ""

    def _fix_missing_constraint(self, d: Difference) -> str:
        constraint = self._find(self.expected, d, "constraint")
        if constraint is None:
            return ""
        return self._add_constraint(d.table, constraint)

    def _add_constraint(self, table: str, c: Constraint) -> str:
        t = self.q(table)
        if self.vendor == "sqlite":
            return _SQL_ONLY_NOTE
        name = self.q(c.name)
        if self.vendor == "postgresql" and c.kind in {"check", "foreign_key"}:
            return (f"ALTER TABLE {t} ADD CONSTRAINT {name} {c.definition} NOT VALID; ALTER TABLE {t} VALIDATE"
                    f" CONSTRAINT {name}; (validating takes a SHARE UPDATE EXCLUSIVE lock: writes go on)")
        if self.vendor == "postgresql" and c.kind == "unique":
            cols = ", ".join(self.q(x) for x in c.columns)
            return (f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {t} ({cols}); ALTER TABLE {t} ADD CONSTRAINT"
                    f" {name} UNIQUE USING INDEX {name};")
        return f"ALTER TABLE {t} ADD CONSTRAINT {name} {c.definition};"

    def _drop_constraint(self, table: str, c: Constraint) -> str:
        t = self.q(table)
        if self.vendor == "sqlite":
            return _SQL_ONLY_NOTE
        if self.vendor == "mysql":
            what = {"foreign_key": "FOREIGN KEY", "check": "CHECK", "unique": "INDEX",
                    "primary_key": "PRIMARY KEY"}.get(c.kind, "CONSTRAINT")
            return f"ALTER TABLE {t} DROP {what}{'' if c.kind == 'primary_key' else ' ' + self.q(c.name)};"
        return f"ALTER TABLE {t} DROP CONSTRAINT {self.q(c.name)};"

    def _fix_extra_constraint(self, d: Difference) -> str:
        c = self._find(self.actual, d, "constraint")
        if c is None:
            return ""
        return (f"Drop it: {self._drop_constraint(d.table, c)} Or keep it: declare it in the model's"
                " Meta.constraints and adopt it with a migration whose operation is"
                " SeparateDatabaseAndState(state_operations=[AddConstraint(...)], database_operations=[]).")

    def _fix_changed_constraint(self, d: Difference) -> str:
        want, have = self._find(self.expected, d, "constraint"), self._find(self.actual, d, "constraint")
        if want is None or have is None:
            return ""
        return f"{self._drop_constraint(d.table, have)} {self._add_constraint(d.table, want)}"

    def _fix_unvalidated_constraint(self, d: Difference) -> str:
        if self.vendor != "postgresql":
            return "Re-enable enforcement of the constraint."
        return (f"ALTER TABLE {self._t(d)} VALIDATE CONSTRAINT {self.q(d.object)}; (SHARE UPDATE EXCLUSIVE lock:"
                " reads and writes go on; fails, naming a row, if existing rows violate it)")

    def _alter_column(self, d: Difference) -> str:
        column = self._find(self.expected, d, "column")
        if column is None:
            return ""
        t, c = self._t(d), self.q(d.object)
        if self.vendor == "mysql":
            return f"ALTER TABLE {t} MODIFY {c} {self._column_sql(column)};"
        if self.vendor == "sqlite":
            return _SQL_ONLY_NOTE
        if d.kind == "column_type":
            return f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {column.type}; (rewrites the table under ACCESS EXCLUSIVE)"
        if d.kind == "column_nullability":
            if column.nullable:
                return f"ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL;"
            return (f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL; (check first: SELECT count(*) FROM {t}"
                    f" WHERE {c} IS NULL;)")
        if d.kind == "column_default":
            if column.default is None:
                return f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT;"
            return f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {column.default};"
        if d.kind == "column_collation" and column.collation:
            return f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {column.type} COLLATE {self.q(column.collation)};"
        return ""

    def _adopt_column(self, d: Difference) -> str:
        """A state-only AlterField when the database value can be expressed on the field."""
        entry = self.origins.fields.get((d.table, d.object))
        have = self._find(self.actual, d, "column")
        if entry is None or have is None:
            return ""
        app, model, model_field = entry
        new = model_field.clone()
        if d.kind == "column_nullability":
            new.null = have.nullable
        elif d.kind == "column_type" and getattr(new, "max_length", None) and _length(have.type):
            new.max_length = _length(have.type)
        else:
            return ""
        from django.db.migrations.writer import MigrationWriter

        code, _ = MigrationWriter.serialize(new)
        name = getattr(model_field, "name", None) or d.object
        migration = _ready_migration(self.origins, app, [f"migrations.AlterField({model.lower()!r}, {name!r}, {code})"])
        return f"Or, if the database is right, change the field and adopt the change without SQL:\n{migration}"

    def _fix_column_type(self, d: Difference) -> str:
        return _join(self._alter_column(d), self._adopt_column(d))

    _fix_column_nullability = _fix_column_type
    _fix_column_default = _fix_column_type
    _fix_column_collation = _fix_column_type

    def _fix_extra_table(self, d: Difference) -> str:
        return (f"If it is used: python manage.py inspectdb {d.table} gives the model; add it, run makemigrations,"
                f" then python manage.py migrate <app> --fake-initial (the table exists). If not: DROP TABLE"
                f" {self._t(d)}; after a backup.")

    def _fix_unmanaged_view(self, d: Difference) -> str:
        return ("Nothing to do. To manage it with migrations, add a RunSQL migration that creates it (and a"
                " managed = False model to query it).")

    def _fix_index_name(self, d: Difference) -> str:
        if self.vendor == "sqlite":
            return "Recreate the index under the expected name."
        if self.vendor == "mysql":
            return f"ALTER TABLE {self._t(d)} RENAME INDEX {self.q(d.actual)} TO {self.q(d.expected)};"
        return f"ALTER INDEX {self.q(d.actual)} RENAME TO {self.q(d.expected)};"

    def _fix_constraint_name(self, d: Difference) -> str:
        if self.vendor != "postgresql":
            return "Drop and re-add the constraint under the expected name."
        return f"ALTER TABLE {self._t(d)} RENAME CONSTRAINT {self.q(d.actual)} TO {self.q(d.expected)};"


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _length(type_: str) -> int | None:
    match = re.search(r"char(?:acter varying)?\((\d+)\)", type_)
    return int(match.group(1)) if match else None


def _field_for(column: Column) -> str:
    """models.<Field>(...) source for a database column type (the common cases; else TextField + TODO)."""
    t = column.type.lower()
    null = ", null=True" if column.nullable else ""
    length = _length(t)
    decimal = re.search(r"(?:numeric|decimal)\((\d+),\s*(\d+)\)", t)
    if length and t.startswith(("character varying", "varchar")):
        return f"models.CharField(max_length={length}{null})"
    if decimal:
        return f"models.DecimalField(max_digits={decimal.group(1)}, decimal_places={decimal.group(2)}{null})"
    table = [("bigint", "BigIntegerField"), ("smallint", "SmallIntegerField"), ("tinyint(1)", "BooleanField"),
             ("int", "IntegerField"), ("bool", "BooleanField"), ("timestamp", "DateTimeField"),
             ("datetime", "DateTimeField"), ("date", "DateField"), ("uuid", "UUIDField"), ("json", "JSONField"),
             ("double", "FloatField"), ("real", "FloatField"), ("text", "TextField")]
    for prefix, name in table:
        if t.startswith(prefix) or (prefix == "int" and t.startswith("integer")):
            return f"models.{name}({null.removeprefix(', ')})"
    return f"models.TextField({null.removeprefix(', ')})  # TODO: database type {column.type}"


def _ready_migration(origins: Origins, app: str, operations: list[str]) -> str:
    leaf = origins.leaves.get(app)
    deps = f"[({leaf[0]!r}, {leaf[1]!r})]" if leaf else "[]"
    body = ",\n".join(f"                    {op}" for op in operations)
    return (
        "    from django.db import migrations, models\n\n"
        "    class Migration(migrations.Migration):\n"
        f"        dependencies = {deps}\n"
        "        operations = [\n"
        "            migrations.SeparateDatabaseAndState(\n"
        "                database_operations=[],  # the database already has it\n"
        "                state_operations=[\n"
        f"{body},\n"
        "                ],\n"
        "            ),\n"
        "        ]"
    )
