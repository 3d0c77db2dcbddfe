"""Find migration directories under the paths given, and name their apps without importing them."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from migration_pilot.exceptions import MessageError

#: Directories never searched when walking a tree: environments, VCS data, caches.
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "env",
                        "node_modules", "__pycache__", "site-packages", ".mypy_cache",
                        ".pytest_cache", ".ruff_cache"})


@dataclass(frozen=True, slots=True)
class StaticApp:
    """An app as static mode sees it: a label and its `migrations/` package directory."""

    label: str
    directory: Path
    package: str

    def files(self) -> list[Path]:
        """Migration files, as Django's loader picks them: `*.py` not starting with `_` or `~`."""
        return sorted(p for p in self.directory.glob("*.py") if p.name[0] not in "_~")

    def module_of(self, path: Path) -> str:
        """The dotted module name the file would have if imported (it never is)."""
        return f"{self.package}.{path.stem}" if self.package else path.stem


def discover_apps(paths: Iterable[Path]) -> list[StaticApp]:
    """Every `*/migrations/` package under `paths`, with its app label; one-line errors for bad paths."""
    found: dict[Path, StaticApp] = {}
    for path in paths:
        if not path.exists():
            raise MessageError(f"Path {path} does not exist. Pass directories that contain"
                               " apps with migrations/ packages (default: the current directory).")
        if not path.is_dir():
            raise MessageError(f"Path {path} is not a directory. Pass the directory of an app,"
                               " or a directory above its migrations/ package.")
        for directory in _migration_dirs(path.resolve()):
            found.setdefault(directory, _app(directory))
    labels: dict[str, Path] = {}
    for app in found.values():
        if app.label in labels:
            raise MessageError(
                f"Two apps have the label {app.label!r}: {labels[app.label]} and {app.directory}."
                " Lint them in separate runs, or give one an AppConfig.label in its apps.py.")
        labels[app.label] = app.directory
    return sorted(found.values(), key=lambda a: a.label)


def _migration_dirs(root: Path) -> Iterable[Path]:
    if root.name == "migrations" and _is_django_migrations(root):
        yield root
        return
    for current, dirs, _ in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        if "migrations" in dirs:
            candidate = Path(current) / "migrations"
            if _is_django_migrations(candidate):
                yield candidate
            dirs.remove("migrations")


def _is_django_migrations(directory: Path) -> bool:
    """A package where some file defines `class Migration` (wagtail.blocks.migrations is not one)."""
    if not (directory / "__init__.py").is_file():
        return False
    for path in directory.glob("*.py"):
        try:
            if "class Migration(" in path.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


def _app(migrations_dir: Path) -> StaticApp:
    app_dir = migrations_dir.parent
    return StaticApp(_label(app_dir), migrations_dir, _package(migrations_dir))


def _package(directory: Path) -> str:
    """Dotted package name: directory names up to the first one without `__init__.py`."""
    parts: list[str] = []
    current = directory
    while (current / "__init__.py").is_file() and current.name.isidentifier():
        parts.append(current.name)
        current = current.parent
    return ".".join(reversed(parts))


def _label(app_dir: Path) -> str:
    """The label its apps.py declares literally (`label = "..."`, else `name`'s last part), else the dir name."""
    apps_py = app_dir / "apps.py"
    configs: list[tuple[bool, str]] = []
    try:
        tree = ast.parse(apps_py.read_text(encoding="utf-8"), filename=str(apps_py))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return app_dir.name
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        if not any(_name(base).endswith("Config") for base in node.bases):
            continue
        values = _literal_strings(node)
        label = values.get("label") or (values.get("name") or "").rpartition(".")[2]
        if label:
            configs.append((values.get("default") == "True", label))
    if not configs:
        return app_dir.name
    defaults = [label for is_default, label in configs if is_default]
    return (defaults or [configs[0][1]])[0]


def _name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _literal_strings(cls: ast.ClassDef) -> dict[str, str]:
    values: dict[str, str] = {}
    for statement in cls.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(
                statement.targets[0], ast.Name) and isinstance(statement.value, ast.Constant):
            values[statement.targets[0].id] = str(statement.value.value)
    return values
