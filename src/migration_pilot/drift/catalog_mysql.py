"""Read a MySQL or MariaDB schema from information_schema.

Rows are read with `SELECT *` and picked by column name, because MariaDB and
MySQL 8 expose different columns (MySQL's functional-index EXPRESSION,
MariaDB's CHECK_CONSTRAINTS.TABLE_NAME, MySQL's TABLE_CONSTRAINTS.ENFORCED).
View definitions name the schema, so it is stripped: the reference lives in
a differently named scratch database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from migration_pilot.drift.model import Catalog, Column, Constraint, Index, Table


def read(connection: Any) -> Catalog:
    """The catalog of the database `connection` points at (read-only queries)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DATABASE()")
        schema = cursor.fetchone()[0]
        tables = list(_rows(cursor, "TABLES", schema))
        columns = list(_rows(cursor, "COLUMNS", schema))
        stats = list(_rows(cursor, "STATISTICS", schema))
        constraints = list(_rows(cursor, "TABLE_CONSTRAINTS", schema, column="CONSTRAINT_SCHEMA"))
        usage = list(_rows(cursor, "KEY_COLUMN_USAGE", schema, column="CONSTRAINT_SCHEMA"))
        referential = list(_rows(cursor, "REFERENTIAL_CONSTRAINTS", schema, column="CONSTRAINT_SCHEMA"))
        checks = list(_rows(cursor, "CHECK_CONSTRAINTS", schema, column="CONSTRAINT_SCHEMA"))
        views = list(_rows(cursor, "VIEWS", schema))
    base = {t["TABLE_NAME"]: t for t in tables if t["TABLE_TYPE"] == "BASE TABLE"}
    sequences = {t["TABLE_NAME"]: "bigint" for t in tables if t["TABLE_TYPE"] == "SEQUENCE"}
    cols: dict[str, dict[str, Column]] = {name: {} for name in base}
    for c in sorted(columns, key=lambda c: (c["TABLE_NAME"], c["ORDINAL_POSITION"])):
        if c["TABLE_NAME"] not in base:
            continue
        extra = (c.get("EXTRA") or "").lower()
        generated = c.get("GENERATION_EXPRESSION") or None
        cols[c["TABLE_NAME"]][c["COLUMN_NAME"]] = Column(
            name=c["COLUMN_NAME"], type=c["COLUMN_TYPE"], nullable=c["IS_NULLABLE"] == "YES",
            default=None if generated else _default(c["COLUMN_DEFAULT"]),
            collation=c.get("COLLATION_NAME"), identity="auto_increment" if "auto_increment" in extra else None,
            generated=generated)
    keyed = {(c["TABLE_NAME"], c["CONSTRAINT_NAME"]): c["CONSTRAINT_TYPE"] for c in constraints}
    index_cols: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in stats:
        index_cols.setdefault((s["TABLE_NAME"], s["INDEX_NAME"]), []).append(s)
    idx: dict[str, list[Index]] = {}
    cons: dict[str, list[Constraint]] = {}
    for (table, name), parts in sorted(index_cols.items()):
        parts.sort(key=lambda s: s["SEQ_IN_INDEX"])
        keys = tuple(_index_key(s) for s in parts)
        unique = not int(parts[0]["NON_UNIQUE"])
        method = str(parts[0].get("INDEX_TYPE") or "BTREE")
        kind = keyed.get((table, name))
        if kind in {"PRIMARY KEY", "UNIQUE"}:
            word = "PRIMARY KEY" if kind == "PRIMARY KEY" else "UNIQUE"
            cons.setdefault(table, []).append(Constraint(
                name=name, kind="primary_key" if kind == "PRIMARY KEY" else "unique",
                columns=tuple(s["COLUMN_NAME"] or "" for s in parts), definition=f"{word} ({', '.join(keys)})"))
            continue
        idx.setdefault(table, []).append(Index(
            name=name, columns=tuple(s["COLUMN_NAME"] or "" for s in parts),
            definition=f"{'UNIQUE ' if unique else ''}{method} ({', '.join(keys)})",
            unique=unique, method=method))
    _foreign_keys(usage, referential, constraints, cons)
    _checks(checks, constraints, cons)
    table_map = {
        name: Table(name=name, columns=cols[name], indexes=tuple(idx.get(name, ())),
                    constraints=tuple(cons.get(name, ())),
                    options={"engine": str(t.get("ENGINE") or ""), "collation": str(t.get("TABLE_COLLATION") or "")})
        for name, t in base.items()
    }
    view_defs = {v["TABLE_NAME"]: " ".join(str(v["VIEW_DEFINITION"]).replace(f"`{schema}`.", "").split())
                 for v in views}
    version = ".".join(str(p) for p in connection.mysql_version[:2])
    vendor_name = "mariadb" if getattr(connection, "mysql_is_mariadb", False) else "mysql"
    return Catalog(vendor=f"mysql:{vendor_name}", version=version, tables=table_map, views=view_defs,
                   sequences=sequences)


def _rows(cursor: Any, view: str, schema: str, column: str = "TABLE_SCHEMA") -> Iterator[dict[str, Any]]:
    cursor.execute(f"SELECT * FROM information_schema.{view} WHERE {column} = %s", [schema])
    names = [d[0].upper() for d in cursor.description]
    for row in cursor.fetchall():
        yield {n: _text(v) for n, v in zip(names, row, strict=True)}


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _default(value: Any) -> str | None:
    """MariaDB reports a nullable column's implicit default as the word NULL; it is no default."""
    text = _text(value)
    return None if text is None or text == "NULL" else str(text)


def _index_key(s: dict[str, Any]) -> str:
    key = s.get("COLUMN_NAME") or f"({s.get('EXPRESSION') or '?'})"
    if s.get("SUB_PART"):
        key += f"({s['SUB_PART']})"
    if s.get("COLLATION") == "D":
        key += " DESC"
    return str(key)


def _foreign_keys(usage: list[dict[str, Any]], referential: list[dict[str, Any]],
                  constraints: list[dict[str, Any]], cons: dict[str, list[Constraint]]) -> None:
    fks = {(c["TABLE_NAME"], c["CONSTRAINT_NAME"]) for c in constraints if c["CONSTRAINT_TYPE"] == "FOREIGN KEY"}
    rules = {(r["TABLE_NAME"], r["CONSTRAINT_NAME"]): r for r in referential}
    parts: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for u in usage:
        key = (u["TABLE_NAME"], u["CONSTRAINT_NAME"])
        if key in fks:
            parts.setdefault(key, []).append(u)
    for (table, name), rows in sorted(parts.items()):
        rows.sort(key=lambda u: u["ORDINAL_POSITION"])
        ref_table = rows[0]["REFERENCED_TABLE_NAME"]
        local = ", ".join(u["COLUMN_NAME"] for u in rows)
        remote = ", ".join(u["REFERENCED_COLUMN_NAME"] for u in rows)
        rule = rules.get((table, name), {})
        on_delete = str(rule.get("DELETE_RULE") or "RESTRICT")
        cons.setdefault(table, []).append(Constraint(
            name=name, kind="foreign_key", columns=tuple(u["COLUMN_NAME"] for u in rows),
            definition=f"FOREIGN KEY ({local}) REFERENCES {ref_table}({remote}) ON DELETE {on_delete}"
                       f" ON UPDATE {rule.get('UPDATE_RULE') or 'RESTRICT'}",
            references=f"{ref_table}({remote})", on_delete=on_delete))


def _checks(checks: list[dict[str, Any]], constraints: list[dict[str, Any]],
            cons: dict[str, list[Constraint]]) -> None:
    clauses: dict[tuple[str | None, str], str] = {}
    for c in checks:
        clauses[(c.get("TABLE_NAME"), c["CONSTRAINT_NAME"])] = str(c["CHECK_CLAUSE"])
    for c in constraints:
        if c["CONSTRAINT_TYPE"] != "CHECK":
            continue
        table, name = c["TABLE_NAME"], c["CONSTRAINT_NAME"]
        clause = clauses.get((table, name), clauses.get((None, name), ""))
        cons.setdefault(table, []).append(Constraint(
            name=name, kind="check", columns=(), definition=f"CHECK ({' '.join(clause.split())})",
            validated=str(c.get("ENFORCED") or "YES").upper() == "YES"))
