"""Load the migration graph from disk through Django's MigrationLoader, never touching a database.

`MigrationLoader(None)` reads migration files only; Django then treats nothing as
applied, so squashed migrations replace the ones they squash, as on a new database.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db.migrations.exceptions import (
    BadMigrationError,
    CircularDependencyError,
    InconsistentMigrationHistory,
    NodeNotFoundError,
)
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from migration_pilot.exceptions import MigrationLoadError


@dataclass(frozen=True, slots=True)
class LoadedGraph:
    """Django's loader plus the facts every command asks of it."""

    loader: MigrationLoader

    @property
    def graph(self):  # type: ignore[no-untyped-def]
        """Django's MigrationGraph."""
        return self.loader.graph

    def apps_with_migrations(self) -> set[str]:
        """Labels of apps that have at least one migration on disk."""
        return {app for app, _ in self.loader.disk_migrations}


def load_graph() -> LoadedGraph:
    """Load every app's migrations from disk; errors name the file and the fix."""
    with translated_load_errors():
        loader = MigrationLoader(None, ignore_no_migrations=True)
    return LoadedGraph(loader)


def executor_for(connection: Any) -> MigrationExecutor:
    """Django's executor for `connection` (graph plus its applied set), load errors in one line.

    What `migrate` would show as a traceback (a syntax error, a missing
    dependency, a module without a Migration class) becomes a
    MigrationLoadError naming the file and the fix.
    """
    with translated_load_errors():
        return MigrationExecutor(connection)


@contextlib.contextmanager
def translated_load_errors() -> Iterator[None]:
    """Turn Django's migration-loading exceptions into one-line MigrationLoadErrors."""
    _refuse_sourceless_migrations()
    try:
        yield
    except SyntaxError as exc:
        location = f"{exc.filename}:{exc.lineno}" if exc.filename else "a migration file"
        raise MigrationLoadError(
            f"Syntax error in {location}: {exc.msg}.",
            hint="Fix the file, then run the command again.",
        ) from exc
    except ImportError as exc:
        module = _failing_migration_module(exc)
        raise MigrationLoadError(
            f"Cannot import migration {module}: {exc}.",
            hint="Fix the import in that file (migrations should use apps.get_model).",
        ) from exc
    except BadMigrationError as exc:
        raise MigrationLoadError(
            f"{exc}.", hint="Each migration module must define a class named Migration."
        ) from exc
    except NodeNotFoundError as exc:
        raise MigrationLoadError(
            f"{exc.message}.",
            hint="Restore the missing migration or fix the dependency that names it.",
        ) from exc
    except CircularDependencyError as exc:
        raise MigrationLoadError(
            f"Circular dependency between migrations: {exc}.",
            hint="Break the cycle by editing the dependencies of one of those migrations.",
        ) from exc
    except InconsistentMigrationHistory as exc:
        raise MigrationLoadError(f"{exc}.", hint="Fix django_migrations or the dependency.") from exc


def _refuse_sourceless_migrations() -> None:
    """A stale .pyc beside the migrations, its .py gone, would be imported and applied as a migration."""
    for config in apps.get_app_configs():
        module_name, _ = MigrationLoader.migrations_module(config.label)
        if module_name is None:
            continue
        try:
            spec = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            continue  # no migrations package: the loader says so, if it matters
        for directory in (spec.submodule_search_locations or []) if spec else []:
            for compiled in sorted(Path(directory).glob("[!_~]*.pyc")):
                if not compiled.with_suffix(".py").exists():
                    raise MigrationLoadError(
                        f"Migration {config.label}.{compiled.stem} has no source file: only {compiled} is there"
                        " (compiled bytecode left behind when its .py was deleted or renamed).",
                        hint="Delete the .pyc, or restore the .py it was compiled from.",
                    )


def _failing_migration_module(exc: ImportError) -> str:
    """Best guess at which migration module failed, for the one-line error."""
    tb = exc.__traceback__
    module = exc.name or "?"
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if "/migrations/" in filename.replace("\\", "/"):
            module = filename
        tb = tb.tb_next
    return module


def migration_path(migration: object) -> str | None:
    """Absolute path of the file that defines `migration`, if it has one.

    Static lint builds migrations without importing their files; their class
    names the file in `static_path`.
    """
    static = getattr(migration, "static_path", None)
    if isinstance(static, str):
        return static
    module = sys.modules.get(type(migration).__module__)
    filename = getattr(module, "__file__", None)
    return str(Path(filename).resolve()) if filename else None


def app_path(app_label: str) -> Path | None:
    """Directory of the installed app with this label, or None when it is unknown."""
    try:
        return Path(apps.get_app_config(app_label).path).resolve()
    except LookupError:
        return None
