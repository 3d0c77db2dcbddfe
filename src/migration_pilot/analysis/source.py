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
        tree = self.tree  # parsed once, shared with the rules that read the code
        if tree is None:
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

    @functools.cached_property
    def tree(self) -> ast.Module | None:
        """The parsed module (None when it does not parse), for rules that read Python code."""
        try:
            return ast.parse(self.text, filename=self.path)
        except SyntaxError:
            return None

    def function(self, name: str) -> ast.FunctionDef | None:
        """The module-level `def name(...)`, or None."""
        tree = self.tree
        if tree is None:
            return None
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node
        return None

    def segment(self, node: ast.AST) -> str | None:
        """The exact source text of `node`, comments and formatting included."""
        return ast.get_source_segment(self.text, node)

    def code_for(self, node: ast.FunctionDef) -> list[ast.stmt]:
        """`node` and the module-level code it needs (constants, helpers), in file order.

        Used to copy a RunPython function into a rewritten migration that still runs.
        """
        tree = self.tree
        if tree is None:
            return [node]
        defined: dict[str, ast.stmt] = {}
        for statement in tree.body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if statement.name != "Migration":
                    defined[statement.name] = statement
            elif isinstance(statement, ast.Assign | ast.AnnAssign):
                targets = statement.targets if isinstance(statement, ast.Assign) else [
                    statement.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        defined[target.id] = statement
        needed: list[ast.stmt] = [node]
        pending: list[ast.AST] = [node]
        while pending:
            for child in ast.walk(pending.pop()):
                if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
                    found = defined.get(child.id)
                    if found is not None and found not in needed:
                        needed.append(found)
                        pending.append(found)
        return sorted(needed, key=lambda s: s.lineno)

    def import_lines(self) -> list[str]:
        """Module-level imports, one name per line (`from x import a as b`), for rewritten code."""
        tree = self.tree
        lines: list[str] = []
        for node in tree.body if tree is not None else ():
            if isinstance(node, ast.Import):
                lines.extend(f"import {_alias(a)}" for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                module = "." * node.level + (node.module or "")
                lines.extend(f"from {module} import {_alias(a)}" for a in node.names)
        return lines


@functools.lru_cache(maxsize=8192)
def read_source(path: str) -> MigrationSource | None:
    """The file at `path`; None when it cannot be read (e.g. only a .pyc exists)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return MigrationSource(path, text)


def function_source(func: object) -> tuple[MigrationSource, ast.FunctionDef] | None:
    """The file and `def` of a module-level function such as RunPython's code; nothing is imported.

    None for lambdas, methods, builtins and functions whose file cannot be read.
    """
    code = getattr(func, "__code__", None)
    name = getattr(func, "__name__", "")
    if code is None or getattr(func, "__qualname__", name) != name:
        return None
    source = read_source(code.co_filename)
    node = source.function(name) if source is not None else None
    if source is None or node is None:
        return None
    return source, node


def _alias(alias: ast.alias) -> str:
    return f"{alias.name} as {alias.asname}" if alias.asname else alias.name


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
