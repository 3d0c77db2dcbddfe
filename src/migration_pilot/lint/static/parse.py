"""One migration file to one Django Migration instance, from its AST only."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db import migrations

from migration_pilot.exceptions import MigrationLoadError
from migration_pilot.lint.static.evaluate import Evaluator

#: The Migration class attributes the loader and the rules read.
_ATTRIBUTES = ("dependencies", "operations", "replaces", "run_before", "initial", "atomic")


def parse_migration(path: Path, *, app_label: str, module: str, auth_user_model: str,
                    vendor: str = "postgresql",
                    default_auto_field: str = "django.db.models.AutoField") -> migrations.Migration:
    """The file's Migration, built by the allowlisting evaluator; the file is never imported.

    The instance's class carries `static_path` (the file) and the module name the
    file would have, so paths and RunPython sources are found as in import mode.
    """
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise MigrationLoadError(f"Syntax error in {path}:{exc.lineno}: {exc.msg}.",
                                 hint="Fix the file, then run the command again.") from exc
    except (RecursionError, MemoryError) as exc:
        raise MigrationLoadError(f"Migration {path} is nested too deeply to parse.",
                                 hint="Django could not import it either; simplify the file.") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MigrationLoadError(f"Cannot read migration {path}: {exc}.",
                                 hint="Make it a readable UTF-8 Python file.") from exc
    cls_node = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Migration"),
                    None)
    if cls_node is None:
        raise MigrationLoadError(f"Migration {path.stem} in app {app_label} has no Migration class.",
                                 hint="Each migration module must define a class named Migration.")
    evaluator = Evaluator(tree, filename=str(path.resolve()), module=module,
                          auth_user_model=auth_user_model, vendor=vendor,
                          default_auto_field=default_auto_field)
    attrs: dict[str, Any] = {"__module__": module, "static_path": str(path.resolve())}
    try:
        for statement in _class_statements(evaluator, cls_node.body):
            evaluator.bind(statement)  # class-level names (state_operations = [...]) are in scope below
            target, value = _assignment(statement)
            if target in _ATTRIBUTES and value is not None:
                attrs[target] = _attribute(evaluator, target, value)
                if target in ("initial", "atomic") and not isinstance(attrs[target], bool | None):
                    del attrs[target]  # not a literal: Django's default stands
    except RecursionError as exc:
        raise MigrationLoadError(f"Migration {path} is nested too deeply to evaluate.",
                                 hint="Simplify the expressions in its Migration class.") from exc
    cls = type("Migration", (migrations.Migration,), attrs)
    return cls(path.stem, app_label)  # type: ignore[no-any-return]


def _class_statements(evaluator: Evaluator, body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The class body's statements in order, entering `if connection.vendor == ...` branches.

    The branch is the one the linted vendor takes; a branch on anything else
    is left out (its operations are unknown to static mode).
    """
    for statement in body:
        if isinstance(statement, ast.If):
            taken = evaluator.vendor_test(statement.test)
            if taken is not None:
                yield from _class_statements(evaluator, statement.body if taken else statement.orelse)
            continue
        yield statement


def _assignment(statement: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(
            statement.targets[0], ast.Name):
        return statement.targets[0].id, statement.value
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id, statement.value
    return None, None


def _attribute(evaluator: Evaluator, name: str, node: ast.expr) -> Any:
    value = evaluator.value(node)
    if name == "operations":
        items = value if isinstance(value, list | tuple) else [value]
        return [evaluator.as_operation(item) for item in items]
    if name in ("dependencies", "replaces", "run_before"):
        items = value if isinstance(value, list | tuple) else []
        # A dependency that cannot be read is left out; the order it imposed is lost, said in the docs.
        return [item for item in items if isinstance(item, tuple) and len(item) == 2
                and all(isinstance(part, str) for part in item)]
    return value
