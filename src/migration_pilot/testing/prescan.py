"""Find, before the test database exists, the migrations collected tests will start from.

Reads each test module's source for `apply_initial_migration(<literal>)` calls and
`migrate_from = <literal>` class attributes. Targets written as literals are captured
while the test database is first migrated; any other target still works, it is just
reached by migrating the first time it is used.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from migration_pilot.testing.targets import MigrationTarget, normalize


def _literal_targets(node: ast.AST) -> list[MigrationTarget]:
    try:
        return normalize(ast.literal_eval(node))
    except Exception:
        return []


def targets_in_source(source: str, *, unique: bool = True) -> list[MigrationTarget]:
    """Literal start targets in one module's source (without repeats when unique)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: list[MigrationTarget] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "apply_initial_migration" and node.args):
            found.extend(_literal_targets(node.args[0]))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "migrate_from"
                                                  for t in node.targets):
            found.extend(_literal_targets(node.value))
    return list(dict.fromkeys(found)) if unique else found


def targets_in_files(paths: Iterable[Path | Any]) -> list[MigrationTarget]:
    """Literal start targets in every file, without repeats."""
    found: list[MigrationTarget] = []
    for path in dict.fromkeys(paths):
        try:
            found.extend(targets_in_source(Path(path).read_text(encoding="utf-8")))
        except OSError:
            continue
    return list(dict.fromkeys(found))



def targets_of_test(function: Any, cls: Any = None) -> list[MigrationTarget]:
    """The literal start targets one test uses, once per use: its body's calls, or its class's `migrate_from`."""
    if cls is not None and hasattr(cls, "migrate_from"):
        try:
            return normalize(cls.migrate_from)
        except Exception:
            return []
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return []
    return targets_in_source(source, unique=False)
