"""Django's field-to-column-type tables per vendor, read without importing any database driver.

Lint never connects, and a machine that lints for MySQL need not have
mysqlclient (nor psycopg for PostgreSQL). Importing
`django.db.backends.<vendor>.base` imports the driver, so the table is read
from that module's source instead: the class attribute `data_types` (or
MySQL's `_data_types`) of `DatabaseWrapper`, a dict literal in every Django
release. The result is the same whether or not the driver is installed, and
it follows the installed Django version rather than a copy of our own.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

_MODULES = {"postgresql": "postgresql", "mysql": "mysql", "sqlite": "sqlite3"}
_ATTRIBUTES = ("data_types", "_data_types")


@functools.cache
def data_types(vendor: str) -> dict[str, Any] | None:
    """`{internal type: column type template or callable}` for `vendor`, or None when unknown.

    Entries that are not literals (PostgreSQL's CharField is a module-level
    function choosing `varchar` or `varchar(n)`) are rebuilt from that
    function's own definition; an entry that cannot be rebuilt is left out,
    so callers fall back to what they can compute from the field alone.
    """
    module = _MODULES.get(vendor)
    if module is None:
        return None
    source = _backend_source(module)
    if source is None:
        return None
    tree = ast.parse(source)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    table = _class_table(tree)
    if table is None:
        return None
    types: dict[str, Any] = {}
    for key_node, value_node in zip(table.keys, table.values, strict=True):
        if not isinstance(key_node, ast.Constant) or not isinstance(key_node.value, str):
            continue
        value = _value(value_node, functions)
        if value is not None:
            types[key_node.value] = value
    return types


def _backend_source(module: str) -> str | None:
    spec = importlib.util.find_spec("django.db.backends")
    locations = spec.submodule_search_locations if spec is not None else None
    for location in locations or ():
        path = Path(location) / module / "base.py"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def _class_table(tree: ast.Module) -> ast.Dict | None:
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or node.name != "DatabaseWrapper":
            continue
        for statement in node.body:
            if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name)
                    and statement.targets[0].id in _ATTRIBUTES
                    and isinstance(statement.value, ast.Dict)):
                return statement.value
    return None


def _value(node: ast.expr, functions: dict[str, ast.FunctionDef]) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.Name) and node.id in functions:
        return _function(functions[node.id])
    return None


def _function(definition: ast.FunctionDef) -> Callable[..., Any] | None:
    """Django's own helper, compiled alone (as importing the module would, minus the driver).

    It sees only builtins; if it needs more, calling it raises and the caller
    treats the column type as unknown, as for any field it cannot type offline.
    """
    module = ast.Module(body=[definition], type_ignores=[])
    namespace: dict[str, Any] = {}
    try:
        exec(compile(module, "<django data_types>", "exec"), namespace)
    except Exception:  # a syntax this Python cannot compile: leave the entry out
        return None
    function: Callable[..., Any] = namespace[definition.name]
    return function
