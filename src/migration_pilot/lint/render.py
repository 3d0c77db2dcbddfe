"""Copy-paste safe alternatives, rendered with the user's own names.

Arguments are serialised with Django's MigrationWriter, so what we print is
exactly what `makemigrations` would write for the same values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.migrations.writer import MigrationWriter

from migration_pilot.types import MigrationKey

_IMPORT_OF: dict[str, str] = {
    "AddIndexConcurrently": "from django.contrib.postgres.operations import AddIndexConcurrently",
    "RemoveIndexConcurrently":
        "from django.contrib.postgres.operations import RemoveIndexConcurrently",
    "AddConstraintNotValid":
        "from django.contrib.postgres.operations import AddConstraintNotValid",
    "ValidateConstraint": "from django.contrib.postgres.operations import ValidateConstraint",
    "RenameFieldOnline": "from migration_pilot.operations import RenameFieldOnline",
    "RenameFieldContract": "from migration_pilot.operations import RenameFieldContract",
}


@dataclass(slots=True)
class Code:
    """A snippet of operation code and the imports it needs."""

    text: str
    imports: set[str] = field(default_factory=set)


def value(obj: Any) -> Code:
    """`obj` as migration source, via Django's serializer."""
    text, imports = MigrationWriter.serialize(obj)
    return Code(text, set(imports))


def call(name: str, /, *args: Any, **kwargs: Any) -> Code:
    """Source for `name(*args, **kwargs)`; `name` is an operation or `migrations.X`."""
    parts: list[str] = []
    imports: set[str] = set()
    for arg in args:
        rendered = arg if isinstance(arg, Code) else value(arg)
        parts.append(rendered.text)
        imports |= rendered.imports
    for key, arg in kwargs.items():
        rendered = arg if isinstance(arg, Code) else value(arg)
        parts.append(f"{key}={rendered.text}")
        imports |= rendered.imports
    if name in _IMPORT_OF:
        imports.add(_IMPORT_OF[name])
    elif name.startswith("migrations."):
        imports.add("from django.db import migrations")
    return Code(f"{name}({', '.join(parts)})", imports)


def nested(operation: Any) -> Code:
    """An operation as migration source, indented to sit inside another operation's list."""
    code = value(operation)
    code.text = code.text.replace("\n", "\n        ")
    return code


def pg_identifier(name: str) -> str:
    """A PostgreSQL identifier for printed SQL, quoted with embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def django_index_name(table: str, columns: Sequence[str], suffix: str, max_length: int) -> str:
    """The name Django's schema editor gives an unnamed index or unique constraint.

    Uses the schema editor's own naming function (with a stand-in for the one
    connection attribute it reads), so printed SQL names the real object.
    """
    from types import SimpleNamespace

    from django.db.backends.base.schema import BaseDatabaseSchemaEditor

    shim = SimpleNamespace(connection=SimpleNamespace(ops=SimpleNamespace(max_name_length=lambda: max_length)))
    return str(BaseDatabaseSchemaEditor._create_index_name(shim, table, list(columns), suffix))  # type: ignore[arg-type]


def raw(text: str, *imports: str) -> Code:
    """Literal source text (for SQL strings and the like)."""
    return Code(text, set(imports))


def migration(
    operations: Sequence[Code],
    *,
    dependencies: Sequence[MigrationKey] = (),
    atomic: bool = True,
    comment: str | None = None,
    phase: str | None = None,
) -> str:
    """A complete migration module holding `operations`; `phase="post"` marks it post-deploy."""
    imports = {"from django.db import migrations"}
    for op in operations:
        imports |= op.imports
    import_lines = _merge_imports(imports)
    body = ["class Migration(migrations.Migration):"]
    if comment:
        body.append(f"    # {comment}")
    if phase:
        body.append(f"    deploy_phase = {phase!r}")
    if not atomic:
        body.append("    atomic = False")
    deps = ", ".join(f"({app!r}, {name!r})" for app, name in dependencies)
    body.append(f"    dependencies = [{deps}]")
    body.append("    operations = [")
    body.extend(f"        {op.text}," for op in operations)
    body.append("    ]")
    return "\n".join([*import_lines, "", "", *body]) + "\n"


def with_code(migration_text: str, *blocks: str, imports: Sequence[str] = ()) -> str:
    """`migration_text` (from `migration`) with module-level code, such as RunPython functions.

    `blocks` go between the imports and the Migration class, two blank lines
    apart; `imports` are added to the migration's own and merged with them.
    """
    head, marker, tail = migration_text.partition("class Migration(")
    lines = [line for line in head.splitlines() if line.strip()]
    merged = _merge_imports(set(lines) | set(imports))
    code = "\n\n\n".join(block.strip("\n") for block in blocks if block.strip())
    parts = ["\n".join(merged), code] if code else ["\n".join(merged)]
    return "\n\n\n".join(parts) + "\n\n\n" + marker + tail


NEXT_MIGRATION = "# --- next migration ---"
"""Separates the migrations of one deploy step in a fix (bench/realapps/fixcheck.py splits on it)."""

DEPLOY_HEADER = "# === Deploy {number} of {total}: {when} ==="
"""Heads each deploy step of a staged fix (an expand/contract); fixcheck.py splits on `# === Deploy `."""

PRE_DEPLOY = "pre-deploy, before the new code rolls out (the old code still runs)"
POST_DEPLOY = ('post-deploy (deploy_phase = "post", `pilot deploy --phase post`), once no process of the'
               " old release runs")


def chain(*migrations: str) -> str:
    """Migrations applied one after the other in the same deploy step."""
    return f"\n\n{NEXT_MIGRATION}\n".join(migrations)


def staged(*deploys: tuple[str, Sequence[str]]) -> str:
    """A fix in deploy steps, each `(when, migrations)`: applied all in order, they give the schema
    the original migration gives; each step is safe for the code running while it runs."""
    parts = []
    for number, (when, migrations) in enumerate(deploys, 1):
        header = DEPLOY_HEADER.format(number=number, total=len(deploys), when=when)
        parts.append(f"{header}\n{chain(*migrations)}")
    return "\n\n".join(parts)


def deploy_steps(fix: str) -> list[list[str]]:
    """A fix's migrations grouped by deploy step (one group for a fix that is not staged).

    Comment lines before the first step (the `replaces_comment`) are not a step.
    """
    groups = re.split(r"^# === Deploy \d+ of \d+: .*$", fix, flags=re.MULTILINE)
    return [[part.strip("\n") + "\n" for part in group.split(NEXT_MIGRATION)]
            for group in groups if _has_code(group)]


def _has_code(text: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


REPLACES_PREFIX = "# This fix replaces operations "
"""Heads a fix that takes the place of more than its finding's operation (see `replaced_operations`)."""


def replaces_comment(migration: str, operations: Sequence[tuple[int, str]]) -> str:
    """The comment that heads a fix replacing several operations of `migration`.

    `operations` are (index, description) pairs. A person copying the fix learns
    what to delete from the migration; bench/realapps reads the indexes back.
    """
    numbers = ", ".join(f"#{index}" for index, _ in operations)
    lines = [f"{REPLACES_PREFIX}{numbers} of {migration}: delete all of them there, this takes their place"]
    lines += [f"#   #{index}: {description}" for index, description in operations]
    return "\n".join(lines) + "\n"


def replaced_operations(fix: str) -> list[int] | None:
    """The operation indexes a fix's `replaces_comment` names, or None when it has none."""
    first = fix.lstrip("\n").split("\n", 1)[0]
    if not first.startswith(REPLACES_PREFIX):
        return None
    numbers = first[len(REPLACES_PREFIX):].partition(" of ")[0]
    return [int(n) for n in re.findall(r"#(\d+)", numbers)]


def steps(*items: str) -> str:
    """Numbered deploy steps, one per line."""
    return "\n".join(f"{number}. {item}" for number, item in enumerate(items, 1))


def _merge_imports(imports: set[str]) -> list[str]:
    """Sorted import lines, with `from X import a` and `from X import b` merged."""
    merged: dict[str, set[str]] = {}
    plain: set[str] = set()
    for line in imports:
        if line.startswith("from ") and " import " in line:
            module, _, names = line[5:].partition(" import ")
            merged.setdefault(module, set()).update(n.strip() for n in names.split(","))
        else:
            plain.add(line)
    lines = [f"from {module} import {', '.join(sorted(names))}" for module, names in merged.items()]
    return sorted(plain) + sorted(lines, key=lambda line: (line.startswith("from django.db "), line))
