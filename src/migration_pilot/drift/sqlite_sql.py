"""Just enough of SQLite's CREATE TABLE grammar to read what the pragmas omit.

SQLite keeps the original DDL text; `pragma table_xinfo` and
`foreign_key_list` leave out check constraints, collations and
deferrability, so they are read from that text. Django writes this SQL in a
regular shape; the scanner only needs quotes, parentheses and commas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_QUOTES: Final = {'"': '"', "'": "'", "`": "`", "[": "]"}
_TABLE_CONSTRAINT: Final = re.compile(r"^(CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN)\b", re.IGNORECASE)
_CONSTRAINT_NAME: Final = re.compile(r'^CONSTRAINT\s+("(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|\S+)\s*', re.IGNORECASE)
_COLLATE: Final = re.compile(r'\bCOLLATE\s+("(?:[^"]|"")*"|\S+)', re.IGNORECASE)
_CHECK: Final = re.compile(r"\bCHECK\s*\(", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Check:
    """A CHECK clause; `name` is '' when unnamed, `column` set when written on a column."""

    name: str
    clause: str
    column: str | None


@dataclass(frozen=True, slots=True)
class ParsedTable:
    """What the pragmas do not say about a table."""

    checks: tuple[Check, ...]
    collations: dict[str, str]
    deferrable: dict[str, str]
    """Column -> 'deferred'/'immediate' for DEFERRABLE foreign keys."""
    unique_names: dict[tuple[str, ...], str]
    """Columns of a named UNIQUE table constraint -> its name."""


def unquote(identifier: str) -> str:
    """'"a""b"' -> 'a"b'; bare identifiers unchanged."""
    if identifier[:1] in _QUOTES and len(identifier) >= 2:
        closing = _QUOTES[identifier[0]]
        return identifier[1:-1].replace(closing * 2, closing)
    return identifier


def split_top_level(text: str) -> list[str]:
    """Split on commas outside quotes and parentheses."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in _QUOTES:
            i = _skip_quoted(text, i)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _skip_quoted(text: str, i: int) -> int:
    closing = _QUOTES[text[i]]
    j = i + 1
    while j < len(text):
        if text[j] == closing:
            if j + 1 < len(text) and text[j + 1] == closing and closing != "]":
                j += 2
                continue
            return j + 1
        j += 1
    return j


def balanced(text: str, open_at: int) -> str:
    """The text inside the parentheses that open at `open_at`."""
    depth, i = 0, open_at
    while i < len(text):
        ch = text[i]
        if ch in _QUOTES:
            i = _skip_quoted(text, i)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[open_at + 1:i]
        i += 1
    return text[open_at + 1:]


def body(create_sql: str) -> str:
    """The column and constraint list of a CREATE TABLE statement."""
    at = create_sql.find("(")
    return balanced(create_sql, at) if at >= 0 else ""


def parse_table(create_sql: str) -> ParsedTable:
    """Checks, collations, deferrable FKs and named unique constraints of CREATE TABLE text."""
    checks: list[Check] = []
    collations: dict[str, str] = {}
    deferrable: dict[str, str] = {}
    unique_names: dict[tuple[str, ...], str] = {}
    for part in split_top_level(body(create_sql)):
        if _TABLE_CONSTRAINT.match(part):
            name_match = _CONSTRAINT_NAME.match(part)
            name = unquote(name_match.group(1)) if name_match else ""
            rest = part[name_match.end():] if name_match else part
            if rest.upper().startswith("UNIQUE"):
                at = rest.find("(")
                cols = tuple(unquote(c.strip()) for c in split_top_level(balanced(rest, at)))
                unique_names[cols] = name
            checks.extend(Check(name, clause, None) for clause in _check_clauses(rest))
            continue
        column = unquote(_first_token(part))
        rest = part[len(_first_token(part)):]
        collate = _COLLATE.search(rest)
        if collate:
            collations[column] = unquote(collate.group(1))
        upper = " ".join(rest.upper().split())
        if "DEFERRABLE" in upper and "NOT DEFERRABLE" not in upper:
            deferrable[column] = "deferred" if "INITIALLY DEFERRED" in upper else "immediate"
        checks.extend(Check("", clause, column) for clause in _check_clauses(rest))
    return ParsedTable(tuple(checks), collations, deferrable, unique_names)


def _first_token(part: str) -> str:
    if part[:1] in _QUOTES:
        return part[:_skip_quoted(part, 0)]
    return part.split(None, 1)[0]


def _check_clauses(text: str) -> list[str]:
    found = []
    for match in _CHECK.finditer(text):
        found.append(" ".join(balanced(text, match.end() - 1).split()))
    return found


def index_body(create_sql: str) -> tuple[str, str | None]:
    """('("a", "b")', 'WHERE ...' or None) of a CREATE INDEX statement."""
    at = create_sql.find("(")
    inner = balanced(create_sql, at)
    after = create_sql[at + len(inner) + 2:].strip()
    condition = after[len("WHERE"):].strip() if after.upper().startswith("WHERE") else None
    return "(" + " ".join(inner.split()) + ")", (" ".join(condition.split()) if condition else None)
