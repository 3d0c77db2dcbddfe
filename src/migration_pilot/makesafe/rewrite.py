"""`make_safe()`: rewrite a migration file so its unsafe operations are the online ones.

Lint says which operations lock a busy table or break the running code in a
way the online form fixes (see migration_pilot.online.coverage); each of those
becomes its online twin (AddIndex -> AddIndexOnline, ...: the same arguments,
the same state), the migration gets `atomic = False`, and the import is
added. The file is edited as text at the positions Python's own parser
gives, so comments, RunPython functions and formatting stay as written.
Nothing is written when nothing needs to change.
"""

from __future__ import annotations

import ast
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from migration_pilot.exceptions import PilotError
from migration_pilot.online.coverage import online_rules_for

ONLINE_TWINS: Final = {
    "AddIndex": "AddIndexOnline",
    "RemoveIndex": "RemoveIndexOnline",
    "AddConstraint": "AddConstraintOnline",
    "AddField": "AddFieldOnline",
    "AlterField": "AlterFieldOnline",
    "RenameField": "RenameFieldOnline",
    "RenameModel": "RenameModelOnline",
    "AlterModelTable": "AlterModelTableOnline",
}
# Twins that are safe inside the migration's transaction (so the migration keeps it).
_IN_TRANSACTION: Final = frozenset({"RenameModelOnline", "AlterModelTableOnline"})

CONTRACT = '''from django.db import migrations

from migration_pilot.operations import {imports}


class Migration(migrations.Migration):
    # The contract step of {name}: run it once no old code is left ('pilot deploy --phase post').
    deploy_phase = "post"
    atomic = False
    dependencies = [({app!r}, {name!r})]
    operations = [
{operations}    ]
'''


class CannotMakeSafeError(PilotError, ValueError):
    """The migration file is not in a form that can be rewritten safely."""

    def __init__(self, path: Path, why: str) -> None:
        self.path, self.why = path, why

    def __str__(self) -> str:
        return (f"Cannot rewrite {self.path}: {self.why}. Write the online operations by hand"
                " (from migration_pilot.operations import AddIndexOnline, ...) with atomic = False.")


@dataclass
class SafeRewrite:
    """What make_safe() would write, and why."""

    path: Path
    original: str
    text: str
    replaced: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    new_files: list[tuple[Path, str]] = field(default_factory=list)
    """Migrations to add (the contract step of an expand/contract rename)."""

    @property
    def changed(self) -> bool:
        """Whether the file would change."""
        return self.text != self.original


def make_safe(migration: Any, findings: list[Any], state_before: Any = None) -> SafeRewrite:
    """The rewrite of `migration`'s file that replaces the operations `findings` (lint's) flag.

    `state_before` (the project state the migration starts from) names the
    tables a table rename's contract step drops; without it, table renames
    are left as they are.
    """
    path = Path(sys.modules[type(migration).__module__].__file__ or "")
    original = path.read_text(encoding="utf-8")
    calls = _operation_calls(path, original, len(migration.operations))
    wanted = {d.operation for d in findings if d.operation is not None
              and d.rule in _fixed_by_twin(migration.operations[d.operation])}
    rewrite = SafeRewrite(path, original, original)
    edits: list[tuple[int, int, str]] = []
    twins: set[str] = set()
    for index in sorted(wanted):
        operation = migration.operations[index]
        name = type(operation).__name__
        if type(operation).__module__.split(".")[:3] != ["django", "db", "migrations"] or name not in ONLINE_TWINS:
            continue
        if ONLINE_TWINS[name] in _IN_TRANSACTION and state_before is None:
            continue
        why = _table_rename_refusal(migration, index, state_before) if ONLINE_TWINS[name] in _IN_TRANSACTION else None
        if why:  # e.g. a many-to-many column renamed in place: the online form would refuse at deploy
            rewrite.warnings.append(f"operation {index} left as it is: {why}")
            wanted.discard(index)  # (and no contract step for it)
            continue
        call = calls[index]
        edits.append((_offset(original, call.func.lineno, call.func.col_offset),
                      _offset(original, call.func.end_lineno or call.func.lineno, call.func.end_col_offset or 0),
                      ONLINE_TWINS[name]))
        twins.add(ONLINE_TWINS[name])
        rewrite.replaced.append(f"operation {index}: {name} -> {ONLINE_TWINS[name]} ({operation.describe()})")
    if not edits:
        return rewrite
    contracts = _contracts(migration, sorted(wanted), state_before)
    if contracts:
        app, name = migration.app_label, migration.name
        imports = ", ".join(sorted({line.split("(")[0].strip() for line in contracts}))
        rewrite.new_files.append((path.with_name(f"{name}_contract.py"), CONTRACT.format(
            app=app, name=name, operations="".join(contracts), imports=imports)))
    text = original
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    if twins - _IN_TRANSACTION:
        text = _atomic_false(text, path)
    text = _import(text, sorted(twins))
    rewrite.text = text
    others = [type(op).__name__ for op in migration.operations if type(op).__name__ in {"RunPython", "RunSQL"}]
    if others and twins - _IN_TRANSACTION:
        rewrite.warnings.append(f"{', '.join(others)} in this migration now run(s) outside a transaction"
                                " (atomic = False); make sure each is safe to run again, or move it to a"
                                " migration of its own")
    return rewrite


def write(rewrite: SafeRewrite) -> None:
    """Write the new migrations, then replace the file, each atomically (temp file, then rename)."""
    mode = rewrite.path.stat().st_mode & 0o777
    for path, text in rewrite.new_files:
        if path.exists():
            raise CannotMakeSafeError(path, "a file of that name exists already")
        _atomic_write(path, text, mode)
    _atomic_write(rewrite.path, rewrite.text, mode)


def _atomic_write(path: Path, text: str, mode: int) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _contracts(migration: Any, indexes: list[int], state_before: Any) -> list[str]:
    """The contract step's operations (source lines) for the renames among `indexes`."""
    lines = []
    state = state_before.clone() if state_before is not None else None
    for index, operation in enumerate(migration.operations):
        name = type(operation).__name__
        if index in indexes and name == "RenameField":
            lines.append(f"        RenameFieldContract({operation.model_name!r}, {operation.old_name!r},"
                         f" {operation.new_name!r}),\n")
        if state is None:
            continue
        after = state.clone()
        operation.state_forwards(migration.app_label, after)
        if index in indexes and name in {"RenameModel", "AlterModelTable"}:
            from migration_pilot.online.table_rename import table_renames

            old, new = ((operation.old_name_lower, operation.new_name_lower) if name == "RenameModel"
                        else (operation.name_lower, operation.name_lower))
            renames = table_renames(migration.app_label, old, new, state, after)
            lines.append(f"        RenameTableContract({[r.contract_arg() for r in renames if r.old != r.new]!r}),\n")
        state = after
    return lines


def _table_rename_refusal(migration: Any, index: int, state_before: Any) -> str | None:
    """Why the online twin of the table rename at `index` would refuse (any vendor), or None."""
    from migration_pilot.online.table_rename import refusal

    state = state_before.clone()
    for operation in migration.operations[:index]:
        operation.state_forwards(migration.app_label, state)
    after = state.clone()
    operation = migration.operations[index]
    operation.state_forwards(migration.app_label, after)
    old, new = ((operation.old_name_lower, operation.new_name_lower) if type(operation).__name__ == "RenameModel"
                else (operation.name_lower, operation.name_lower))
    return refusal(migration.app_label, old, new, state, after, "postgresql")


def _fixed_by_twin(operation: Any) -> frozenset[str]:
    """The lint rules whose finding the operation's online twin removes."""
    if type(operation).__name__ == "RenameField":
        return frozenset({"rename-column"})  # expand now, contract after the release
    if type(operation).__name__ in {"RenameModel", "AlterModelTable"}:
        return frozenset({"rename-table"})  # the old name a view until the contract
    return online_rules_for(operation)


def _operation_calls(path: Path, text: str, count: int) -> list[ast.Call]:
    """The Call node of each entry of the Migration class's literal `operations` list, in order."""
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            for statement in node.body:
                if (isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "operations"
                                                              for t in statement.targets)):
                    items = statement.value.elts if isinstance(statement.value, ast.List | ast.Tuple) else None
                    if items is None or len(items) != count or not all(isinstance(i, ast.Call) for i in items):
                        raise CannotMakeSafeError(path, "its operations are not a literal list of calls")
                    return [item for item in items if isinstance(item, ast.Call)]
    raise CannotMakeSafeError(path, "no Migration class with an operations list was found")


def _offset(text: str, line: int, column: int) -> int:
    """Character offset of a (1-based line, 0-based UTF-8 byte column) position from ast."""
    lines = text.splitlines(keepends=True)
    before = sum(len(line_text) for line_text in lines[: line - 1])
    return before + len(lines[line - 1].encode("utf-8")[:column].decode("utf-8"))


def _atomic_false(text: str, path: Path) -> str:
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            for statement in node.body:
                if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                        and isinstance(statement.targets[0], ast.Name) and statement.targets[0].id == "atomic"):
                    start = _offset(text, statement.value.lineno, statement.value.col_offset)
                    end = _offset(text, statement.value.end_lineno or statement.value.lineno,
                                  statement.value.end_col_offset or 0)
                    return text[:start] + "False" + text[end:]
            first = node.body[0]
            line_start = _offset(text, first.lineno, 0)
            indent = " " * first.col_offset
            return (text[:line_start] + f"{indent}# Online operations build and validate outside a transaction.\n"
                    f"{indent}atomic = False\n" + text[line_start:])
    raise CannotMakeSafeError(path, "no Migration class was found")


def _import(text: str, names: list[str]) -> str:
    tree = ast.parse(text)
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    line = f"from migration_pilot.operations import {', '.join(names)}\n"
    if not imports:
        return line + text
    after = _offset(text, (imports[-1].end_lineno or imports[-1].lineno) + 1, 0) \
        if (imports[-1].end_lineno or imports[-1].lineno) < len(text.splitlines()) else len(text)
    return text[:after] + line + text[after:]
