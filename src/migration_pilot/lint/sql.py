"""RunSQL text to PostgreSQL parse trees, with pglast (PostgreSQL's own parser).

Statements are matched on parse-tree node types, never on regular expressions,
so comments, quoting and formatting cannot hide or fake a hazard.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pglast
from pglast import ast

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s")


@dataclass(frozen=True, slots=True)
class ParsedSql:
    """The statements of one SQL string, or the parser's complaint."""

    statements: tuple[Any, ...]
    error: str | None


def sql_strings(sql: Any) -> Iterator[str]:
    """The SQL strings of a RunSQL `sql` or `reverse_sql` value (str, list, or (sql, params))."""
    if sql is None:
        return
    if isinstance(sql, str):
        yield sql
        return
    for item in sql:
        if isinstance(item, str):
            yield item
        elif isinstance(item, list | tuple) and item and isinstance(item[0], str):
            yield item[0]


def parse(sql: str) -> ParsedSql:
    """Parse `sql`; %s and %(name)s placeholders become $n parameters first."""
    counter = iter(range(1, 10_000))
    prepared = _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql).replace("%%", "%")
    try:
        raw = pglast.parse_sql(prepared)
    except pglast.parser.ParseError as exc:
        return ParsedSql((), str(exc))
    return ParsedSql(tuple(r.stmt for r in raw), None)


def relation_name(node: Any) -> str | None:
    """Unqualified table name of a RangeVar node."""
    if isinstance(node, ast.RangeVar):
        return str(node.relname)
    return None


DML_NODES = (ast.UpdateStmt, ast.InsertStmt, ast.DeleteStmt)
"""Statements that change rows rather than schema."""

NEUTRAL_NODES = (ast.SelectStmt, ast.TransactionStmt, ast.VariableSetStmt, ast.CommentStmt)
"""Statements that change neither schema nor rows in a way rules judge."""
