"""A static check (ast) for SQL built from names without the backend's quoting (S7).

An f-string (or a `%` / `.format` on a string) whose literal text starts like an SQL statement
(SELECT, ALTER, CREATE, DROP, INSERT, UPDATE, DELETE, ...) is checked: every value it interpolates must be
a constant, a number, a call to a quoting function (`quote_name`, `quote`, `q`, `pg_identifier`, ...),
a join of quoted parts, or a local variable every assignment of which is one of those. Anything else is
a finding unless allow-listed (tests/security/test_sql_identifiers.py) with its reason.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STATEMENT = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|ALTER|CREATE|DROP|TRUNCATE|REINDEX|VACUUM|ANALYZE|GRANT"
                       r"|REVOKE|LOCK|SHOW|SET|WITH|COMMENT|BEGIN|RENAME|OPTIMIZE|KILL)\b")
QUOTERS = {"quote", "quote_name", "qn", "q", "_q", "_quote", "_t", "_literal", "_ident", "literal", "Identifier",
           "Literal", "pg_identifier", "quote_ident", "quote_literal"}
NUMERIC = {"int", "float", "len", "round", "abs"}


@dataclass(frozen=True)
class Finding:
    path: str
    function: str
    expression: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}: {{{self.expression}}} is not quoted"


def _targets(target: ast.expr) -> list[ast.Name]:
    if isinstance(target, ast.Name):
        return [target]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _targets(element)]
    return []


class _Scope:
    """Every value assigned to each local name of one function (None: unknown, e.g. a parameter)."""

    def __init__(self, node: ast.AST) -> None:
        self.values: dict[str, list[ast.expr | None]] = {}
        for child in ast.walk(node):
            if isinstance(child, ast.Assign):
                for target in child.targets:
                    if (isinstance(target, ast.Tuple) and isinstance(child.value, ast.Tuple)
                            and len(target.elts) == len(child.value.elts)):
                        for element, value in zip(target.elts, child.value.elts, strict=True):
                            for name in _targets(element):
                                self.values.setdefault(name.id, []).append(value if element is name else None)
                    else:
                        for name in _targets(target):
                            self.values.setdefault(name.id, []).append(child.value if target is name else None)
            elif isinstance(child, ast.AnnAssign) and isinstance(child.target, ast.Name):
                self.values.setdefault(child.target.id, []).append(child.value)
            elif isinstance(child, (ast.For, ast.comprehension, ast.withitem)):
                target = child.optional_vars if isinstance(child, ast.withitem) else child.target
                for name in _targets(target) if target is not None else []:
                    self.values.setdefault(name.id, []).append(None)
            elif isinstance(child, ast.arg):
                self.values.setdefault(child.arg, []).append(None)


def _callee(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _is_quoter(func: ast.expr, scope: _Scope) -> bool:
    name = _callee(func)
    if name in QUOTERS or name.endswith("quote_name"):
        return True
    if isinstance(func, ast.Name):  # q = connection.ops.quote_name
        values = scope.values.get(func.id) or [None]
        return all(isinstance(v, (ast.Attribute, ast.Name)) and _is_quoter(v, scope) for v in values)
    return False


def _doubles_quotes(node: ast.expr) -> bool:
    """'"' + name.replace('"', '""') + '"': quoting by hand, correctly."""
    return any(isinstance(n, ast.Call) and _callee(n.func) == "replace" and len(n.args) == 2
               and all(isinstance(a, ast.Constant) for a in n.args)
               and [a.value for a in n.args] in (['"', '""'], ["`", "``"]) for n in ast.walk(node))


def _safe(node: ast.expr, scope: _Scope, seen: frozenset[str] = frozenset()) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Call):
        name = _callee(node.func)
        if _is_quoter(node.func, scope) or name in NUMERIC:
            return True
        if name == "join" and node.args:
            arg = node.args[0]
            if isinstance(arg, (ast.GeneratorExp, ast.ListComp)):
                return _safe(arg.elt, scope, seen)
            return _safe(arg, scope, seen)
        return False
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(_safe(element, scope, seen) for element in node.elts)
    if isinstance(node, ast.IfExp):
        return _safe(node.body, scope, seen) and _safe(node.orelse, scope, seen)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Add) and _doubles_quotes(node):
            return True
        return not isinstance(node.op, ast.Mod) and _safe(node.left, scope, seen) and _safe(node.right, scope, seen)
    if isinstance(node, ast.JoinedStr):
        return all(_safe(v.value, scope, seen) for v in node.values if isinstance(v, ast.FormattedValue))
    if isinstance(node, ast.Name):
        if node.id.isupper():  # a module constant
            return True
        if node.id in seen:
            return False
        values = scope.values.get(node.id)
        return bool(values) and all(v is not None and _safe(v, scope, seen | {node.id}) for v in values)
    return False


def _statement(text: object) -> bool:
    return isinstance(text, str) and bool(STATEMENT.match(text))


def scan_source(source: str, path: str = "<string>") -> Iterator[Finding]:
    """The unquoted interpolations into SQL statements of one module."""
    tree = ast.parse(source)

    def visit(node: ast.AST, scope: _Scope, qualname: list[str]) -> Iterator[Finding]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from visit(child, _Scope(child), [*qualname, child.name])
                continue
            if isinstance(child, ast.ClassDef):
                yield from visit(child, scope, [*qualname, child.name])
                continue
            yield from check(child, scope, ".".join(qualname) or "<module>")
            yield from visit(child, scope, qualname)

    def check(node: ast.AST, scope: _Scope, function: str) -> Iterator[Finding]:
        values: list[ast.expr] = []
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            if _statement(node.values[0].value):
                values = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant)
              and _statement(node.left.value)):
            values = list(node.right.elts) if isinstance(node.right, ast.Tuple) else [node.right]
        elif (isinstance(node, ast.Call) and _callee(node.func) == "format" and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Constant) and _statement(node.func.value.value)):
            values = [*node.args, *(k.value for k in node.keywords)]
        for value in values:
            if not _safe(value, scope):
                yield Finding(path, function, ast.unparse(value), getattr(value, "lineno", 0))

    yield from visit(tree, _Scope(tree), [])


def scan_package(root: Path) -> list[Finding]:
    found = []
    for path in sorted(root.rglob("*.py")):
        found.extend(scan_source(path.read_text(encoding="utf-8"), str(path.relative_to(root.parent.parent))))
    return found
