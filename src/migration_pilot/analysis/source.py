"""Where each operation sits in its migration file, and the comments above it.

Files are read once and parsed only on demand: most migrations have no
finding and no suppression comment, so most are never parsed.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path


class MigrationSource:
    """Text of a migration file, with operation line numbers computed on first use."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self._lines: list[str] | None = None
        self._operation_lines: list[int] | None = None
        self._class_line: int | None = None

    @property
    def lines(self) -> list[str]:
        """The file split into lines."""
        if self._lines is None:
            self._lines = self.text.splitlines()
        return self._lines

    def _parse(self) -> None:
        self._operation_lines = []
        try:
            tree = ast.parse(self.text, filename=self.path)
        except SyntaxError:
            return
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == "Migration":
                self._class_line = node.lineno
                self._operation_lines = _operation_lines(node)
                return

    def line_of(self, index: int | None) -> int | None:
        """1-based line of operation `index`, or of the Migration class when unknown."""
        if self._operation_lines is None:
            self._parse()
        assert self._operation_lines is not None
        if index is not None and 0 <= index < len(self._operation_lines):
            return self._operation_lines[index]
        return self._class_line

    def comments_above(self, line: int) -> list[tuple[int, str]]:
        """The run of comment-only lines directly above `line`, top first."""
        found: list[tuple[int, str]] = []
        number = line - 1
        while number >= 1:
            text = self.lines[number - 1].strip()
            if not text.startswith("#"):
                break
            found.append((number, text))
            number -= 1
        return list(reversed(found))

    def comments(self) -> list[tuple[int, str]]:
        """Every comment-only line in the file with its number."""
        return [(n, t.strip()) for n, t in enumerate(self.lines, 1) if t.strip().startswith("#")]


@functools.lru_cache(maxsize=8192)
def read_source(path: str) -> MigrationSource | None:
    """The file at `path`; None when it cannot be read (e.g. only a .pyc exists)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return MigrationSource(path, text)


def _operation_lines(cls: ast.ClassDef) -> list[int]:
    """Start line of each element of the class's `operations = [...]` list."""
    for statement in cls.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if "operations" in names and isinstance(value, ast.List | ast.Tuple):
            return [element.lineno for element in value.elts]
    return []
