"""Edit a migration file at the exact spans Python's parser gives, leaving every other byte as it was.

The file is parsed with `ast`; a literal dependency such as `("shop", "0003_note")` inside
`dependencies` or `run_before` is replaced by its new text at that node's span, and a
`replaces = [...]` statement is cut out with its lines. Comments, formatting and
RunPython code around them stay byte-identical. Files are written atomically
(a temporary file in the same directory, then a rename).
"""

from __future__ import annotations

import ast
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from migration_pilot.exceptions import PilotError
from migration_pilot.types import MigrationKey

DEPENDENCY_ATTRIBUTES = ("dependencies", "run_before")


class MigrationSourceError(PilotError, ValueError):
    """A migration file's Migration class cannot be edited at the parser's positions."""

    def __init__(self, path: Path, why: str) -> None:
        self.path, self.why = path, why

    def __str__(self) -> str:
        return f"Cannot edit {self.path}: {self.why}. Edit it by hand, then run the command again."


@dataclass(frozen=True, slots=True)
class DependencyLiteral:
    """One literal (app, name) pair in a dependency list, with its byte span."""

    key: MigrationKey
    start: int
    end: int
    attribute: str


def _line_starts(data: bytes) -> list[int]:
    starts = [0]
    for index, byte in enumerate(data):
        if byte == 0x0A:
            starts.append(index + 1)
    return starts


def _offset(starts: list[int], line: int, column: int) -> int:
    """Byte offset of ast's (1-based line, 0-based UTF-8 byte column)."""
    return starts[line - 1] + column


def _migration_class(path: Path, data: bytes) -> ast.ClassDef:
    try:
        tree = ast.parse(data, filename=str(path))
    except SyntaxError as exc:
        raise MigrationSourceError(path, f"it does not parse (line {exc.lineno}: {exc.msg})") from None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            return node
    raise MigrationSourceError(path, "it has no module-level class Migration")


def _assignments(node: ast.ClassDef, name: str) -> list[ast.Assign | ast.AnnAssign]:
    found: list[ast.Assign | ast.AnnAssign] = []
    for statement in node.body:
        if isinstance(statement, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in statement.targets):
                found.append(statement)
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) \
                and statement.target.id == name and statement.value is not None:
            found.append(statement)
    return found


def _string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def literals(path: Path, data: bytes) -> list[DependencyLiteral]:
    """Every literal ("app", "name") pair in the Migration class's dependencies and run_before."""
    cls = _migration_class(path, data)
    starts = _line_starts(data)
    found: list[DependencyLiteral] = []
    for attribute in DEPENDENCY_ATTRIBUTES:
        for statement in _assignments(cls, attribute):
            value = statement.value
            if not isinstance(value, ast.List | ast.Tuple):
                continue
            for element in value.elts:
                if not isinstance(element, ast.Tuple | ast.List) or len(element.elts) != 2:
                    continue
                app, name = (_string(e) for e in element.elts)
                if app is None or name is None:
                    continue
                start = _offset(starts, element.lineno, element.col_offset)
                end = _offset(starts, element.end_lineno or element.lineno, element.end_col_offset or 0)
                found.append(DependencyLiteral((app, name), start, end, attribute))
    return found


def retarget(path: Path, data: bytes, mapping: Mapping[MigrationKey, MigrationKey]) -> bytes:
    """`data` with each literal dependency in `mapping` replaced by its new (app, name).

    Only the pair's own span changes; the quote style of the original is kept.
    """
    edits: list[tuple[int, int, bytes]] = []
    for literal in literals(path, data):
        target = mapping.get(literal.key)
        if target is None or target == literal.key:
            continue
        original = data[literal.start:literal.end].decode("utf-8")
        quote = "'" if original.lstrip("([ \n").startswith("'") else '"'
        opener, closer = ("[", "]") if original.startswith("[") else ("(", ")")
        text = f"{opener}{quote}{target[0]}{quote}, {quote}{target[1]}{quote}{closer}"
        edits.append((literal.start, literal.end, text.encode("utf-8")))
    return _apply(data, edits)


def remove_replaces(path: Path, data: bytes) -> bytes:
    """`data` without the Migration class's `replaces = [...]` statement (its whole lines)."""
    cls = _migration_class(path, data)
    statements = _assignments(cls, "replaces")
    if not statements:
        raise MigrationSourceError(path, "its Migration class has no replaces attribute")
    starts = _line_starts(data)
    edits: list[tuple[int, int, bytes]] = []
    for statement in statements:
        first, last = statement.lineno, statement.end_lineno or statement.lineno
        start = starts[first - 1]
        end = starts[last] if last < len(starts) else len(data)
        # Only whole lines: the statement must be alone on them (no "x = 1; replaces = [...]").
        before = data[start:_offset(starts, first, statement.col_offset)]
        after = data[_offset(starts, last, statement.end_col_offset or 0):end]
        if before.strip() or after.strip(b" \t\r\n").split(b"#")[0].strip():
            raise MigrationSourceError(path, "the replaces statement shares its line with other code")
        edits.append((start, end, b""))
    return _apply(data, edits)


def imports_module(path: Path, data: bytes, module: str) -> bool:
    """Whether the file imports `module` or names it in a string (`importlib.import_module("...")`).

    Migration modules start with a digit, so code kept from a squashed migration reaches them by name.
    """
    try:
        tree = ast.parse(data, filename=str(path))
    except SyntaxError:
        return False
    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom):
            return [node.module or ""]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        return []

    return any(name == module or name.startswith(module + ".")
               for node in ast.walk(tree) for name in names(node))


def _apply(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    for start, end, text in sorted(edits, reverse=True):
        data = data[:start] + text + data[end:]
    return data


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write `data` to `path` through a temporary file in the same directory and a rename."""
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
