"""Read a SQLite schema from sqlite_master and the table pragmas.

Pragmas give columns, the primary key, indexes and foreign keys; the CREATE
TABLE text (see sqlite_sql.py) gives check constraints, collations and
deferrability. Unique constraints written inline get `sqlite_autoindex_*`
names that depend on column order, so they are named from the DDL when the
DDL names them and otherwise matched by their columns.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from migration_pilot.drift import sqlite_sql
from migration_pilot.drift.model import Catalog, Column, Constraint, Index, Table


def read(connection: Any) -> Catalog:
    """The catalog of the database `connection` points at (read-only queries)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"
                       " WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        master = cursor.fetchall()
        index_sql = {name: sql for kind, name, _, sql in master if kind == "index"}
        tables: dict[str, Table] = {}
        for kind, name, _, sql in master:
            if kind == "table":
                tables[name] = _table(cursor, quote, name, sql or "", index_sql)
    views = {name: " ".join((sql or "").split()) for kind, name, _, sql in master if kind == "view"}
    return Catalog(vendor="sqlite", version=sqlite3.sqlite_version.split(".")[0], tables=tables,
                   views=views)


def _pragma(cursor: Any, quote: Any, pragma: str, target: str) -> list[tuple[Any, ...]]:
    cursor.execute(f"PRAGMA {pragma}({quote(target)})")
    return list(cursor.fetchall())


def _table(cursor: Any, quote: Any, table: str, sql: str, index_sql: dict[str, str]) -> Table:
    parsed = sqlite_sql.parse_table(sql)
    autoincrement = "AUTOINCREMENT" in sql.upper()
    columns: dict[str, Column] = {}
    pk: list[tuple[int, str]] = []
    for _cid, name, type_, notnull, default, pk_pos, hidden in _pragma(cursor, quote, "table_xinfo", table):
        if pk_pos:
            pk.append((pk_pos, name))
        columns[name] = Column(
            name=name, type=str(type_), nullable=not notnull and not pk_pos,
            default=None if hidden else default, collation=parsed.collations.get(name),
            identity="autoincrement" if pk_pos and autoincrement else None,
            generated="generated" if hidden in (2, 3) else None)
    constraints: list[Constraint] = []
    if pk:
        keys = tuple(name for _, name in sorted(pk))
        constraints.append(Constraint(name="", kind="primary_key", columns=keys,
                                      definition=f"PRIMARY KEY ({', '.join(keys)})"))
    indexes: list[Index] = []
    for _seq, name, unique, origin, _partial in _pragma(cursor, quote, "index_list", table):
        info = [row for row in _pragma(cursor, quote, "index_xinfo", name) if row[5]]
        keys = tuple(row[2] if row[2] is not None else "<expression>" for row in info)
        if origin == "pk":
            continue
        if origin == "u":
            constraints.append(Constraint(name=parsed.unique_names.get(keys, ""), kind="unique", columns=keys,
                                          definition=f"UNIQUE ({', '.join(keys)})"))
            continue
        text, condition = sqlite_sql.index_body(index_sql.get(name) or "")
        indexes.append(Index(name=name, columns=keys, definition=f"{'UNIQUE ' if unique else ''}{text}"
                             + (f" WHERE {condition}" if condition else ""),
                             unique=bool(unique), condition=condition))
    constraints.extend(_foreign_keys(cursor, quote, table, parsed))
    for check in parsed.checks:
        constraints.append(Constraint(name=check.name, kind="check",
                                      columns=(check.column,) if check.column else (),
                                      definition=f"CHECK ({check.clause})"))
    return Table(name=table, columns=columns, indexes=tuple(indexes), constraints=tuple(constraints))


def _foreign_keys(cursor: Any, quote: Any, table: str, parsed: sqlite_sql.ParsedTable) -> list[Constraint]:
    groups: dict[int, list[tuple[Any, ...]]] = {}
    for row in _pragma(cursor, quote, "foreign_key_list", table):
        groups.setdefault(row[0], []).append(row)
    found = []
    for rows in groups.values():
        rows.sort(key=lambda r: r[1])
        local = tuple(r[3] for r in rows)
        remote = ", ".join(str(r[4]) for r in rows)
        target = f"{rows[0][2]}({remote})"
        on_delete = str(rows[0][6])
        deferrable = parsed.deferrable.get(local[0]) if len(local) == 1 else None
        found.append(Constraint(
            name="", kind="foreign_key", columns=local,
            definition=f"FOREIGN KEY ({', '.join(local)}) REFERENCES {target} ON DELETE {on_delete}",
            references=target, on_delete=on_delete, deferrable=deferrable))
    return found
