"""Diff two catalogs: what the migrations produce (expected) against what is there (actual).

Indexes and constraints are matched by what they do, not by name: Django's
auto-generated names end in a hash suffix that a restore, a rename or another
Django version can change without changing the schema. A name-only
difference is reported only with `strict_names`. Differences come back
without cause or fix; explain.py adds those.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from migration_pilot.drift.differences import ERROR, INFO, WARNING, Difference
from migration_pilot.drift.model import Catalog, Column, Constraint, Index, Table

T = TypeVar("T", Index, Constraint)

_COLUMN_FACTS: tuple[tuple[str, str], ...] = (
    ("type", "column_type"), ("nullable", "column_nullability"), ("default", "column_default"),
    ("collation", "column_collation"), ("identity", "column_identity"), ("sequence", "column_identity"),
    ("generated", "column_generated"),
)


def compare(expected: Catalog, actual: Catalog, *, strict_names: bool = False,
            skip_tables: Iterable[str] = ()) -> list[Difference]:
    """Every difference between the two catalogs, tables in name order."""
    skip = set(skip_tables)
    found: list[Difference] = []
    for name in sorted((set(expected.tables) | set(actual.tables)) - skip):
        want, have = expected.tables.get(name), actual.tables.get(name)
        if have is None:
            found.append(Difference("missing_table", name, name, "table", "(none)"))
        elif want is None:
            found.append(Difference("extra_table", name, name, "(none)", _describe_table(have),
                                    severity=WARNING))
        else:
            found.extend(_table(want, have, precise=expected.precise and actual.precise,
                                strict_names=strict_names))
    found.extend(_views(expected, actual, skip))
    found.extend(_sequences(expected, actual))
    return found


def _describe_table(table: Table) -> str:
    return f"table with {len(table.columns)} column(s): {', '.join(list(table.columns)[:8])}"


def describe_column(column: Column) -> str:
    """'character varying(30) NOT NULL DEFAULT ...' for reports."""
    text = column.type or "?"
    text += " NULL" if column.nullable else " NOT NULL"
    if column.default is not None:
        text += f" DEFAULT {column.default}"
    if column.collation:
        text += f" COLLATE {column.collation}"
    if column.identity:
        text += f" {column.identity.upper()}"
    return text


def _table(want: Table, have: Table, *, precise: bool, strict_names: bool) -> list[Difference]:
    name = want.name
    found: list[Difference] = []
    for column in want.columns:
        if column not in have.columns:
            found.append(Difference("missing_column", name, column, describe_column(want.columns[column]),
                                    "(none)"))
    for column, got in have.columns.items():
        if column not in want.columns:
            breaks = not got.nullable and got.default is None and got.identity is None and not got.generated
            found.append(Difference("extra_column", name, column, "(none)", describe_column(got),
                                    severity=ERROR if breaks else WARNING))
            continue
        found.extend(_column(name, want.columns[column], got, precise=precise))
    if not precise:
        return found + _named_presence(want, have)
    for key, value in want.options.items():
        if value != have.options.get(key, value):
            found.append(Difference("table_option", name, key, value, have.options.get(key, ""),
                                    severity=WARNING))
    found.extend(_objects(name, want.indexes, have.indexes, _index_signature, "index", strict_names))
    found.extend(_objects(name, want.constraints, have.constraints, _constraint_signature, "constraint",
                          strict_names))
    return found


def _column(table: str, want: Column, have: Column, *, precise: bool) -> list[Difference]:
    found = []
    for attribute, kind in _COLUMN_FACTS:
        if not precise and attribute != "nullable":
            continue
        expected, actual = getattr(want, attribute), getattr(have, attribute)
        if expected != actual:
            found.append(Difference(kind, table, want.name, _fact(attribute, expected), _fact(attribute, actual)))
    return found


def _fact(attribute: str, value: Any) -> str:
    if attribute == "nullable":
        return "NULL" if value else "NOT NULL"
    return "(none)" if value is None else str(value)


def _named_presence(want: Table, have: Table) -> list[Difference]:
    """State-rendered reference: declared index and constraint names must exist."""
    names = {i.name for i in have.indexes} | {c.name for c in have.constraints}
    found = []
    for index in want.indexes:
        if index.name not in names:
            found.append(Difference("missing_index", want.name, index.name, "declared in the models' state",
                                    "(none)"))
    for constraint in want.constraints:
        if constraint.name not in names:
            found.append(Difference("missing_constraint", want.name, constraint.name,
                                    "declared in the models' state", "(none)"))
    return found


def _index_signature(index: Index) -> Hashable:
    return (index.unique, index.definition)


def _constraint_signature(constraint: Constraint) -> Hashable:
    return (constraint.kind, constraint.definition, constraint.on_delete, constraint.deferrable)


def label(obj: Index | Constraint) -> str:
    """The object's name, or its definition when it has none (SQLite's unnamed constraints)."""
    return obj.name or obj.definition


def _objects(table: str, want: Sequence[T], have: Sequence[T], signature: Callable[[T], Hashable],
             noun: str, strict_names: bool) -> list[Difference]:
    found: list[Difference] = []
    pairs, missing, extra = pair_objects(want, have, signature)
    for expected, actual, how in pairs:
        if how == "renamed" and strict_names:
            found.append(Difference(f"{noun}_name", table, label(expected), expected.name, actual.name,
                                    severity=WARNING))
        if how == "changed":
            found.append(Difference(f"changed_{noun}", table, label(expected), expected.definition,
                                    actual.definition))
        found.extend(_validity(table, expected, actual))
    for expected in missing:
        found.append(Difference(f"missing_{noun}", table, label(expected), expected.definition, "(none)"))
    for actual in extra:
        if isinstance(actual, Index) and not actual.valid:
            found.append(Difference("invalid_index", table, label(actual), "(not in the migrations)",
                                    f"INVALID {actual.definition}"))
            continue
        harmless = isinstance(actual, Index) and not actual.unique
        found.append(Difference(f"extra_{noun}", table, label(actual), "(none)", actual.definition,
                                severity=WARNING if harmless else ERROR))
    return found


def _validity(table: str, expected: Index | Constraint, actual: Index | Constraint) -> list[Difference]:
    if isinstance(expected, Index) and isinstance(actual, Index) and expected.valid and not actual.valid:
        return [Difference("invalid_index", table, label(actual), "valid", "INVALID")]
    if (isinstance(expected, Constraint) and isinstance(actual, Constraint) and expected.validated
            and not actual.validated):
        return [Difference("unvalidated_constraint", table, label(actual), "validated",
                           "NOT VALID (existing rows were never checked)")]
    return []


def pair_objects(want: Sequence[T], have: Sequence[T], signature: Callable[[T], Hashable]
                 ) -> tuple[list[tuple[T, T, str]], list[T], list[T]]:
    """(pairs with 'same'/'renamed'/'changed', missing, extra): name+signature, then signature, then name."""
    left, right = list(want), list(have)
    pairs: list[tuple[T, T, str]] = []
    for how in ("same", "renamed", "changed"):
        for expected in list(left):
            for actual in right:
                same_name = bool(expected.name) and expected.name == actual.name
                same_signature = signature(expected) == signature(actual)
                if {"same": (same_name and same_signature) or (not expected.name and not actual.name
                                                              and same_signature),
                        "renamed": same_signature, "changed": same_name}[how]:
                    pairs.append((expected, actual, how))
                    left.remove(expected)
                    right.remove(actual)
                    break
    return pairs, left, right


def _views(expected: Catalog, actual: Catalog, skip: set[str]) -> list[Difference]:
    found = []
    for name in sorted(set(expected.views) | set(actual.views)):
        want, have = expected.views.get(name), actual.views.get(name)
        if want is None and have is not None:
            found.append(Difference("unmanaged_view", name, name, "(none)", have, severity=INFO))
        elif have is None and want is not None:
            found.append(Difference("missing_view", name, name, want, "(none)"))
        elif want != have and name not in skip:
            found.append(Difference("changed_view", name, name, str(want), str(have), severity=WARNING))
    return found


def _sequences(expected: Catalog, actual: Catalog) -> list[Difference]:
    if not expected.precise:
        return []
    found = []
    for name in sorted(set(expected.sequences) | set(actual.sequences)):
        want, have = expected.sequences.get(name), actual.sequences.get(name)
        if want is None:
            found.append(Difference("extra_sequence", "", name, "(none)", str(have), severity=WARNING))
        elif have is None:
            found.append(Difference("missing_sequence", "", name, want, "(none)"))
        elif want != have:
            found.append(Difference("changed_sequence", "", name, want, have))
    return found
