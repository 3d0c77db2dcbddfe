"""What rolling back an operation does to the data: exact, lossy (and what is lost) or impossible (E1, E2).

Unapplying a migration runs each operation's `database_backwards`. Some of
those reverses give the data back as it was (a renamed column renamed back),
some run but lose data (`AddField` reversed drops the column with what was
written to it; `RemoveField` reversed re-creates the column empty;
`RunPython.noop` undoes nothing) and some cannot run at all (`RunPython`
without `reverse_code`). `classify_reverse()` judges one operation from the
project state *before* it (the state its reverse returns to), the facts the
plan's own walk already has; with a `LiveData` it counts, on the live
database, the values or rows that would be lost.

Code we cannot read (a `reverse_code` function, `reverse_sql`, a third-party
operation with its own `database_backwards`) is called exact only on its
author's word, and says so: migration_pilot does not guess what it does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from django.db import DatabaseError, transaction
from django.db import migrations as dj
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ModelState, ProjectState
from django.db.models import NOT_PROVIDED, Field

from migration_pilot.analysis.schema import column_of, default_table_name, find_model, table_of
from migration_pilot.analysis.walk import effective_operation_type

EXACT: Final = "exact"
LOSSY: Final = "lossy"
IMPOSSIBLE: Final = "impossible"
KINDS: Final = (EXACT, LOSSY, IMPOSSIBLE)
COUNT_CAP: Final = 1_000_000
"""Counting stops here: a bounded scan, so `pilot plan` stays cheap on big tables."""

_TEXT_TYPES: Final = frozenset({"CharField", "TextField", "SlugField"})
_INT_TYPES: Final = {
    "SmallAutoField": "SmallIntegerField", "AutoField": "IntegerField", "BigAutoField": "BigIntegerField",
    **{name: name for name in BaseDatabaseOperations.integer_field_ranges},
}


@dataclass(frozen=True, slots=True)
class Reversal:
    """How unapplying one operation treats the data; `what` says it in words with the user's names."""

    kind: str
    what: str = ""
    count: int | None = None
    """Values or rows lost, counted on the live database (None: not counted)."""

    @property
    def loses_data(self) -> bool:
        """Whether the rollback needs consent: impossible, or lossy unless counted as losing nothing."""
        return self.kind == IMPOSSIBLE or (self.kind == LOSSY and self.count != 0)

    def describe(self) -> str:
        """'exact', 'lossy — drops shop_invoice.note (1,204 non-null values)', …"""
        if not self.what:
            return self.kind
        if self.kind == EXACT:
            return f"exact ({self.what})"
        return f"{self.kind} — {self.what}"

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": self.kind, "what": self.what, "count": self.count, "loses_data": self.loses_data}


class LiveData:
    """Read-only counts on the live database for the reversal text; names quoted, answers cached."""

    def __init__(self, connection: Any, *, cap: int = COUNT_CAP) -> None:
        self.connection = connection
        self.cap = cap
        self._tables: set[str] | None = None
        self._columns: dict[str, set[str]] = {}

    @property
    def vendor(self) -> str:
        """The connection's vendor."""
        return str(self.connection.vendor)

    def has_table(self, table: str) -> bool:
        """Whether `table` exists now."""
        if self._tables is None:
            with self.connection.cursor() as cursor:
                self._tables = set(self.connection.introspection.table_names(cursor))
        return table in self._tables

    def has_column(self, table: str, column: str) -> bool:
        """Whether `table`.`column` exists now."""
        if not self.has_table(table):
            return False
        if table not in self._columns:
            with self.connection.cursor() as cursor:
                try:
                    names = {info.name for info in self.connection.introspection.get_table_description(cursor, table)}
                except TypeError:
                    # django-pgschemas 1.1.1's backend builds Django 5's FieldInfo with too few fields; the
                    # names are all that is needed here, and a query returning no row has them.
                    cursor.execute(f"SELECT * FROM {self.connection.ops.quote_name(table)} WHERE 1 = 0")
                    names = {str(column[0]) for column in cursor.description}
            self._columns[table] = names
        return column in self._columns[table]

    def count(self, table: str, where: str = "", params: Sequence[Any] = ()) -> int | None:
        """Rows of `table` matching `where` (SQL on quoted names), at most cap + 1; None when it cannot count."""
        quote = self.connection.ops.quote_name
        condition = f" WHERE {where}" if where else ""
        sql = (f"SELECT COUNT(*) FROM (SELECT 1 AS one FROM {quote(table)}{condition}"
               f" LIMIT {int(self.cap) + 1}) pilot_counted")
        try:
            with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
                cursor.execute(sql, list(params))
                row = cursor.fetchone()
        except DatabaseError:
            return None
        return int(row[0]) if row else None

    def quote(self, name: str) -> str:
        """The backend's quoted identifier."""
        return str(self.connection.ops.quote_name(name))


def classify_reverse(operation: Operation, app_label: str, state: ProjectState, *,
                     live: LiveData | None = None, max_name_length: int | None = None) -> Reversal:
    """How unapplying `operation` (of `app_label`, meeting `state` when applied) treats the data.

    `state` is the project state before the operation, as the analysis walk
    and the plan hold it; it is not changed. With `live`, what would be lost is
    counted on the live database where the table or column exists there.
    """
    if max_name_length is None:
        max_name_length = int(live.connection.ops.max_name_length() or 63) if live is not None else 63
    judge = _Judge(app_label, state, live, max_name_length)
    return judge.classify(operation)


def worst(reversals: Sequence[Reversal]) -> Reversal:
    """One Reversal for several (SeparateDatabaseAndState, a migration): the worst kind, every loss named."""
    if not reversals:
        return Reversal(EXACT)
    kind = max((r.kind for r in reversals), key=KINDS.index)
    what = "; ".join(r.what for r in reversals if r.what and r.kind != EXACT)
    counts = [r.count for r in reversals if r.kind != EXACT]
    count = sum(c for c in counts if c is not None) if counts and all(c is not None for c in counts) else None
    return Reversal(kind, what, count if kind != EXACT else None)


def _amount(count: int | None, cap: int, unit: str) -> str:
    """'1,204 non-null values', 'over 1,000,000 rows'."""
    assert count is not None
    if count > cap:
        return f"over {cap:,} {unit}"
    if count == 1:
        unit = unit.replace("values", "value", 1).replace("rows", "row", 1).replace("NULLs", "NULL", 1)
    return f"{count:,} {unit}"


class _Judge:
    def __init__(self, app_label: str, state: ProjectState, live: LiveData | None, max_name_length: int) -> None:
        self.app_label = app_label
        self.state = state
        self.live = live
        self.max_name_length = max_name_length

    @property
    def cap(self) -> int:
        return self.live.cap if self.live is not None else COUNT_CAP

    def classify(self, op: Operation) -> Reversal:
        if isinstance(op, dj.SeparateDatabaseAndState):
            return self._separate(op)
        kind = effective_operation_type(op)
        if kind is None:
            if not getattr(op, "reversible", True):
                return Reversal(IMPOSSIBLE, f"{type(op).__name__} has no reverse")
            return Reversal(EXACT, f"{type(op).__name__} is a custom operation; its reverse is not inspected")
        if not getattr(op, "reversible", True) and not isinstance(op, dj.RunPython | dj.RunSQL):
            return Reversal(IMPOSSIBLE, f"{type(op).__name__} has no reverse")
        for klass, method in _DISPATCH:
            if isinstance(op, klass):
                return method(self, op)  # type: ignore[no-any-return]
        return Reversal(EXACT)

    # -- helpers ---------------------------------------------------------------------------------

    def model(self, name: str) -> ModelState | None:
        return find_model(self.state, self.app_label, name)

    def table(self, model: ModelState) -> str:
        return table_of(model, self.max_name_length)

    def count(self, table: str, where: str = "", params: Sequence[Any] = ()) -> int | None:
        if self.live is None or not self.live.has_table(table):
            return None
        return self.live.count(table, where, params)

    def column_count(self, table: str, column: str, where: str, params: Sequence[Any] = ()) -> int | None:
        """Count with `where` ('{c}' = the quoted column) where the column exists now."""
        if self.live is None or not self.live.has_column(table, column):
            return None
        return self.live.count(table, where.format(c=self.live.quote(column)), params)

    def vendor(self) -> str | None:
        return self.live.vendor if self.live is not None else None

    def _through_table(self, model: ModelState, name: str, field: Field) -> str | None:
        """The table Django creates for an auto-created many-to-many, None for an explicit `through`."""
        if getattr(field.remote_field, "through", None):
            return None
        if getattr(field, "db_table", None):
            return str(field.db_table)
        from django.db.backends.utils import truncate_name

        return str(truncate_name(f"{self.table(model)}_{name}", self.max_name_length))

    # -- operations ------------------------------------------------------------------------------

    def _separate(self, op: dj.SeparateDatabaseAndState) -> Reversal:
        state = self.state.clone()
        found: list[Reversal] = []
        for inner in op.database_operations:
            found.append(_Judge(self.app_label, state, self.live, self.max_name_length).classify(inner))
            inner.state_forwards(self.app_label, state)
        return worst(found)

    def _create_model(self, op: dj.CreateModel) -> Reversal:
        options = op.options or {}
        if options.get("proxy") or options.get("managed") is False:
            return Reversal(EXACT)
        table = str(options.get("db_table") or default_table_name(self.app_label, op.name, self.max_name_length))
        rows = self.count(table)
        if rows is None:
            return Reversal(LOSSY, f"drops table {table} with any rows written to it")
        if rows == 0:
            return Reversal(LOSSY, f"drops table {table} (empty)", 0)
        return Reversal(LOSSY, f"drops table {table} ({_amount(rows, self.cap, 'rows')})", rows)

    def _delete_model(self, op: dj.DeleteModel) -> Reversal:
        model = self.model(op.name)
        if model is None or model.options.get("proxy") or model.options.get("managed") is False:
            return Reversal(EXACT)
        table = self.table(model)
        rows = self.count(table)
        if rows is None:
            return Reversal(LOSSY, f"re-creates table {table} empty (its rows are not restored)")
        if rows == 0:
            return Reversal(LOSSY, f"re-creates table {table} empty (it has no rows now)", 0)
        return Reversal(LOSSY, f"re-creates table {table} empty ({_amount(rows, self.cap, 'rows')} not restored)",
                        rows)

    def _add_field(self, op: dj.AddField) -> Reversal:
        model = self.model(op.model_name)
        if model is None:
            return Reversal(EXACT)
        field = op.field
        if getattr(field, "many_to_many", False):
            through = self._through_table(model, op.name, field)
            if through is None:
                return Reversal(EXACT)
            rows = self.count(through)
            if rows is None:
                return Reversal(LOSSY, f"drops table {through} with any links written to it")
            return Reversal(LOSSY, f"drops table {through} ({_amount(rows, self.cap, 'rows')})", rows)
        column = column_of(op.name, field)
        if column is None:
            return Reversal(EXACT)
        table = self.table(model)
        counted, unit = self._non_default(table, column, field)
        if counted is None:
            return Reversal(LOSSY, f"drops {table}.{column} with any data written to it")
        if counted == 0:
            return Reversal(LOSSY, f"drops {table}.{column} (no {unit} in it)", 0)
        return Reversal(LOSSY, f"drops {table}.{column} ({_amount(counted, self.cap, unit)})", counted)

    def _non_default(self, table: str, column: str, field: Field) -> tuple[int | None, str]:
        """Values of the column that re-applying would not bring back: those not equal to a constant default."""
        default = field.default if field.has_default() else None
        if default is not None and not callable(default) and self.live is not None:
            with contextlib.suppress(Exception):
                value = field.get_db_prep_save(default, self.live.connection)
                counted = self.column_count(table, column, "{c} IS NOT NULL AND {c} <> %s", [value])
                if counted is not None:
                    return counted, f"values other than the default {default!r}"
        return self.column_count(table, column, "{c} IS NOT NULL"), "non-null values"

    def _remove_field(self, op: dj.RemoveField) -> Reversal:
        model = self.model(op.model_name)
        field = _field(model, op.name)
        if model is None or field is None:
            return Reversal(EXACT)
        if getattr(field, "many_to_many", False):
            through = self._through_table(model, op.name, field)
            if through is None:
                return Reversal(EXACT)
            rows = self.count(through)
            if rows is None:
                return Reversal(LOSSY, f"re-creates table {through} empty (its links are not restored)")
            return Reversal(LOSSY, f"re-creates table {through} empty ({_amount(rows, self.cap, 'rows')}"
                            " not restored)", rows)
        column = column_of(op.name, field)
        if column is None:
            return Reversal(EXACT)
        table = self.table(model)
        values = self.column_count(table, column, "{c} IS NOT NULL")
        if values is not None:
            if values == 0:
                return Reversal(LOSSY, f"re-creates {table}.{column} empty (it holds no values now)", 0)
            return Reversal(LOSSY, f"re-creates {table}.{column} empty ({_amount(values, self.cap, 'values')}"
                            " not restored)", values)
        rows = self.count(table)
        fails = _needs_value(field) and self.vendor() != "mysql"
        if rows is None:
            also = "; it fails if the table has rows (NOT NULL, no default)" if fails else ""
            return Reversal(LOSSY, f"re-creates {table}.{column} empty (the values it held are not restored){also}")
        if rows == 0:
            return Reversal(LOSSY, f"re-creates {table}.{column} empty ({table} has no rows now)", 0)
        if fails:
            return Reversal(IMPOSSIBLE, f"re-adding {table}.{column} NOT NULL without a default fails on its"
                            f" {_amount(rows, self.cap, 'rows')}", rows)
        return Reversal(LOSSY, f"re-creates {table}.{column} empty (the values of its"
                        f" {_amount(rows, self.cap, 'rows')} are not restored)", rows)

    def _alter_field(self, op: dj.AlterField) -> Reversal:
        model = self.model(op.model_name)
        old = _field(model, op.name)
        if model is None or old is None:
            return Reversal(EXACT)
        new = op.field
        column = column_of(op.name, old)
        if column is None or getattr(new, "many_to_many", False):
            return Reversal(EXACT)
        table = self.table(model)
        target = f"{table}.{column}"
        found: list[Reversal] = []
        if new.null and not old.null:
            nulls = self.column_count(table, column, "{c} IS NULL")
            if _needs_value(old):
                if nulls is None:
                    found.append(Reversal(LOSSY, f"setting {target} NOT NULL again fails if it holds NULLs"))
                elif nulls:
                    found.append(Reversal(IMPOSSIBLE, f"setting {target} NOT NULL again fails on its"
                                          f" {_amount(nulls, self.cap, 'NULLs')}", nulls))
            else:
                default = old.default if old.has_default() and not callable(old.default) else "its default"
                shown = f"{default!r}" if default != "its default" else default
                if nulls is None:
                    found.append(Reversal(LOSSY, f"NULLs in {target} become {shown}"))
                elif nulls:
                    found.append(Reversal(LOSSY, f"{_amount(nulls, self.cap, 'NULLs')} in {target} become {shown}",
                                          nulls))
        old_type, new_type = old.get_internal_type(), new.get_internal_type()
        vendor = self.vendor()
        if old_type in _TEXT_TYPES and new_type in _TEXT_TYPES:
            narrower = old.max_length is not None and (new.max_length is None or old.max_length < new.max_length)
            if narrower and vendor != "sqlite":  # SQLite does not enforce a varchar length
                length = "LENGTH" if vendor == "sqlite" else "CHAR_LENGTH"
                longer = self.column_count(table, column, f"{length}({{c}}) > %s", [old.max_length])
                if longer is None:
                    found.append(Reversal(LOSSY, f"values of {target} longer than {old.max_length} characters"
                                          " are truncated or refused"))
                elif longer:
                    found.append(Reversal(LOSSY, f"{target} holds {_amount(longer, self.cap, 'values')} longer than"
                                          f" {old.max_length} characters: truncated or refused", longer))
        elif old_type in _INT_TYPES and new_type in _INT_TYPES:
            low, high = self._range(_INT_TYPES[old_type])
            new_low, new_high = self._range(_INT_TYPES[new_type])
            if (low > new_low or high < new_high) and vendor != "sqlite":  # SQLite integers are all 64-bit
                outside = self.column_count(table, column, "({c} < %s OR {c} > %s)", [low, high])
                if outside is None:
                    found.append(Reversal(LOSSY, f"values of {target} outside {old_type}'s range are refused"))
                elif outside:
                    found.append(Reversal(LOSSY, f"{target} holds {_amount(outside, self.cap, 'values')} outside"
                                          f" {old_type}'s range ({low:,}..{high:,}): refused", outside))
        elif old_type == new_type == "DecimalField":
            if (old.max_digits or 0) < (new.max_digits or 0) or (old.decimal_places or 0) < (new.decimal_places or 0):
                found.append(Reversal(LOSSY, f"values of {target} are rounded to {old.decimal_places} decimal"
                                      f" places, or refused above {old.max_digits} digits"))
        elif old_type != new_type and not (getattr(old, "is_relation", False) and getattr(new, "is_relation", False)):
            found.append(Reversal(LOSSY, f"converts {target} back from {new_type} to {old_type}: values that do not"
                                  " convert are changed or refused"))
        return worst(found)

    def _range(self, internal_type: str) -> tuple[int, int]:
        if self.live is not None:
            with contextlib.suppress(KeyError):
                low, high = self.live.connection.ops.integer_field_range(internal_type)
                return int(low), int(high)
        low, high = BaseDatabaseOperations.integer_field_ranges[internal_type]
        return int(low), int(high)

    def _order_with_respect_to(self, op: dj.AlterOrderWithRespectTo) -> Reversal:
        model = self.model(op.name)
        if model is None:
            return Reversal(EXACT)
        had = model.options.get("order_with_respect_to")
        table = self.table(model)
        if op.order_with_respect_to and not had:
            rows = self.count(table)
            return Reversal(LOSSY, f"drops {table}._order (the order of its rows)", rows)
        if had and not op.order_with_respect_to:
            return Reversal(LOSSY, f"re-creates {table}._order as 0 for every row (the order is not restored)")
        return Reversal(EXACT)

    def _run_python(self, op: dj.RunPython) -> Reversal:
        name = getattr(op.code, "__name__", "code")
        if op.reverse_code is None:
            return Reversal(IMPOSSIBLE, f"RunPython {name} has no reverse_code")
        if op.reverse_code is dj.RunPython.noop:
            return Reversal(LOSSY, f"RunPython {name}: its data changes are not undone (reverse_code is"
                            " RunPython.noop)")
        reverse = getattr(op.reverse_code, "__name__", "reverse_code")
        return Reversal(EXACT, f"runs {reverse}, which migration_pilot cannot inspect")

    def _run_sql(self, op: dj.RunSQL) -> Reversal:
        reverse = op.reverse_sql
        if reverse is None:
            return Reversal(IMPOSSIBLE, "RunSQL has no reverse_sql")
        if reverse == dj.RunSQL.noop or (isinstance(reverse, list | tuple) and not reverse):
            return Reversal(LOSSY, "RunSQL: what its SQL changed is not undone (reverse_sql is RunSQL.noop)")
        return Reversal(EXACT, "runs its reverse_sql, which migration_pilot cannot inspect")

    def _backfill(self, op: Any) -> Reversal:
        model = self.model(op.model_name)
        table = self.table(model) if model is not None else op.model_name
        if op.reverse is None:
            return Reversal(LOSSY, f"the values Backfill wrote to {table} are not undone (no reverse)")
        return Reversal(EXACT, "runs the Backfill's reverse, which migration_pilot cannot inspect")


def _field(model: ModelState | None, name: str) -> Field | None:
    """The field called `name` (any case) of `model`."""
    if model is None:
        return None
    for candidate, field in model.fields.items():
        if candidate.lower() == name.lower():
            return field  # type: ignore[no-any-return]
    return None


def _needs_value(field: Field) -> bool:
    """Whether adding the column to rows needs a value Django cannot supply (NOT NULL, no default)."""
    if field.null or field.has_default():
        return False
    if getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED:
        return False
    if field.blank and field.empty_strings_allowed:
        return False
    return not (getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def _dispatch() -> list[tuple[type, Any]]:
    from migration_pilot.operations.backfill import Backfill

    return [
        (dj.CreateModel, _Judge._create_model),
        (dj.DeleteModel, _Judge._delete_model),
        (dj.AddField, _Judge._add_field),
        (dj.RemoveField, _Judge._remove_field),
        (dj.AlterField, _Judge._alter_field),
        (dj.AlterOrderWithRespectTo, _Judge._order_with_respect_to),
        (dj.RunPython, _Judge._run_python),
        (dj.RunSQL, _Judge._run_sql),
        (Backfill, _Judge._backfill),
    ]


_DISPATCH: Final = _dispatch()
