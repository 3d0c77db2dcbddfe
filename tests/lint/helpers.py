"""Helpers for rule tests: write a real migration file, lint it through the real loader.

Every rule test goes through Django's MigrationLoader, our source reader and
the suppression parser, exactly as `pilot lint` does; nothing is faked.

The scenario app is `testapp` (tests/testapp): tables testapp_customer,
testapp_order and testapp_invoice exist before the migration under test,
whose name is 0002_change unless given.
"""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from django.db import migrations
from django.db.migrations.writer import MigrationWriter
from django.test import override_settings

from migration_pilot.conf import Config
from migration_pilot.diagnostics import Diagnostic
from migration_pilot.lint import lint

INITIAL = Path(__file__).resolve().parent.parent / "testapp" / "migrations" / "0001_initial.py"
_ROOT = Path(tempfile.mkdtemp(prefix="pilot-scenarios-"))
_COUNTER = itertools.count()
sys.path.insert(0, str(_ROOT))


def migration_source(operations: Sequence[object], *, atomic: bool = True,
                     name: str = "0002_change") -> str:
    """Source text Django's MigrationWriter produces for `operations`."""
    migration = migrations.Migration(name, "testapp")
    migration.operations = list(operations)
    migration.dependencies = [("testapp", "0001_initial")]
    text = MigrationWriter(migration).as_string()
    if not atomic:
        text = text.replace(
            "class Migration(migrations.Migration):\n",
            "class Migration(migrations.Migration):\n    atomic = False\n",
        )
    return text


def write_package(files: dict[str, str]) -> str:
    """A fresh migrations package holding 0001_initial plus `files`; returns its module name."""
    package = f"pilot_scenario_{next(_COUNTER)}"
    directory = _ROOT / package
    directory.mkdir()
    (directory / "__init__.py").write_text("")
    shutil.copy(INITIAL, directory / "0001_initial.py")
    for name, text in files.items():
        (directory / f"{name}.py").write_text(text)
    return package


def lint_files(files: dict[str, str], *, vendor: str = "postgresql",
               config: Config | None = None) -> list[Diagnostic]:
    """Lint testapp with extra migration files {name: source}; returns every diagnostic."""
    package = write_package(files)
    with override_settings(MIGRATION_MODULES={"testapp": package}):
        result = lint(["testapp"], config=config or Config(), vendor=vendor)
    return result.diagnostics


def lint_operations(operations: Sequence[object] = (), *, source: str | None = None,
                    vendor: str = "postgresql", atomic: bool = True,
                    name: str = "0002_change", config: Config | None = None) -> list[Diagnostic]:
    """Diagnostics for migration `name` built from `operations` (or raw `source`)."""
    text = source if source is not None else migration_source(operations, atomic=atomic,
                                                              name=name)
    diagnostics = lint_files({name: text}, vendor=vendor, config=config)
    return [d for d in diagnostics if d.migration == name]


def lint_one(rule_id: str, operations: Sequence[object] = (), **kwargs: object) -> list[Diagnostic]:
    """Only the findings of `rule_id`."""
    return [d for d in lint_operations(operations, **kwargs) if d.rule == rule_id]  # type: ignore[arg-type]


def assert_flags(rule_id: str, operations: Sequence[object] = (), **kwargs: object) -> Diagnostic:
    """Fail unless `rule_id` reports the migration; returns the first finding."""
    found = lint_one(rule_id, operations, **kwargs)
    others = [d.rule for d in lint_operations(operations, **kwargs)]  # type: ignore[arg-type]
    assert found, f"expected {rule_id} to flag the migration; it reported {others or 'nothing'}"
    return found[0]


def assert_allows(rule_id: str, operations: Sequence[object] = (), **kwargs: object) -> None:
    """Fail if `rule_id` reports the migration."""
    found = lint_one(rule_id, operations, **kwargs)
    assert not found, f"expected {rule_id} to allow the migration; it said: {found[0].message}"


def staged_files(fix: str, name: str = "0002_change") -> dict[str, str]:
    """A staged fix's migrations as files: deploy 1 as `name`, each later one depending on the one before."""
    from migration_pilot.lint.render import deploy_steps

    chunks = [chunk for deploy in deploy_steps(fix) for chunk in deploy]
    files = {name: chunks[0]}
    previous = name
    for number, text in enumerate(chunks[1:], start=3):
        head, _, tail = text.partition("dependencies = [")
        current = f"{number:04d}_later"
        files[current] = head + f"dependencies = [('testapp', {previous!r})" + tail[tail.index("]"):]
        previous = current
    return files
