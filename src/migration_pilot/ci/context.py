"""What a generated workflow is filled in with: the project's settings, Python, database, and layout."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from migration_pilot.exceptions import PilotError

ENGINES: Final = {"postgresql": "postgresql", "postgis": "postgresql", "mysql": "mysql", "sqlite3": "sqlite",
                  "spatialite": "sqlite"}


class CiSetupError(PilotError, ValueError):
    """The workflow cannot be filled in or written; says how to fix it."""

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def __str__(self) -> str:
        return self.problem


@dataclass(frozen=True, slots=True)
class CiContext:
    """The facts a template needs."""

    settings_module: str
    pythonpath: str
    """Where the settings package is importable from, relative to the repository root ('.' for the root)."""
    python_version: str
    database: str
    """postgresql | mysql | sqlite: the default alias's engine, which decides the CI service container."""
    install: str
    """The shell command that installs the project's dependencies."""
    with_tests: bool
    """pytest is importable here, so the migration tests job is written."""


def repository_root(start: Path) -> Path:
    """The git work tree containing `start`, else `start` itself."""
    try:
        done = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True,
                              text=True, check=False, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return start.resolve()
    top = done.stdout.strip()
    return Path(top).resolve() if done.returncode == 0 and top else start.resolve()


def detect_context(root: Path) -> CiContext:
    """Read the running project: settings module, its import root, Python, the default database's engine."""
    from django.conf import settings

    module = str(getattr(settings, "SETTINGS_MODULE", "") or os.environ.get("DJANGO_SETTINGS_MODULE", ""))
    if not module:
        raise CiSetupError("No settings module to write into the workflow: pass --settings mysite.settings.")
    return CiContext(
        settings_module=module,
        pythonpath=_import_root(module, root),
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        database=_database(),
        install=_install_command(root, _database()),
        with_tests=importlib.util.find_spec("pytest") is not None,
    )


def _import_root(module: str, root: Path) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return "."
    path = Path(spec.origin).resolve()
    levels = module.count(".") + 1
    if path.name == "__init__.py":
        path = path.parent
    base = path.parents[levels - 1]
    try:
        relative = base.relative_to(root)
    except ValueError:
        raise CiSetupError(f"The settings module {module} lives outside the repository {root}; run"
                           " 'pilot ci init' from the repository that contains it.") from None
    return relative.as_posix() or "."


def _database() -> str:
    from django.conf import settings

    engine = str(settings.DATABASES.get("default", {}).get("ENGINE", ""))
    for suffix, vendor in ENGINES.items():
        if engine.endswith(suffix):
            return vendor
    if "postgres" in engine:
        return "postgresql"
    if "mysql" in engine:
        return "mysql"
    return "sqlite"


def _install_command(root: Path, database: str) -> str:
    extra = {"postgresql": "[postgresql]", "mysql": "[mysql]"}.get(database, "")
    steps = ["python -m pip install --upgrade pip"]
    if (root / "requirements.txt").is_file():
        steps.append("pip install -r requirements.txt")
    elif (root / "pyproject.toml").is_file() or (root / "setup.py").is_file():
        steps.append("pip install .")
    steps.append(f'pip install "django-migration-pilot{extra}"')
    return " && ".join(steps)
