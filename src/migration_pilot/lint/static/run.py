"""`lint_static()`: lint from the files' syntax alone, with the same walk and rules as `lint()`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Final

from django.conf import settings

from migration_pilot.backends import profile_for
from migration_pilot.conf import Config, load_config
from migration_pilot.lint.context import Scope
from migration_pilot.lint.engine import LintResult, build_selection, run_lint
from migration_pilot.lint.static.loader import load_static_graph

#: Rules that need the project's models (imported code), so static mode does not run them.
NEEDS_MODELS: Final = frozenset({"missing-migration"})


def lint_static(
    paths: Sequence[Path],
    *,
    config: Config | None = None,
    vendor: str = "postgresql",
    auth_user_model: str | None = None,
    changed: Collection[str] | None = None,
    scope: Scope | None = None,
) -> LintResult:
    """Lint every migration under `paths` for `vendor`; no migration file is imported.

    `changed` limits linting to files at those absolute paths (for --since).
    `auth_user_model` is what `settings.AUTH_USER_MODEL` stands for in the
    files (default: the setting, which is `auth.User` unless settings were given).
    """
    config = config or load_config()
    config = config.with_overrides(ignore=config.ignore | NEEDS_MODELS)
    profile = profile_for(vendor, config.pg_version if vendor == "postgresql" else None)
    loaded, labels = load_static_graph(
        paths, auth_user_model=auth_user_model or str(settings.AUTH_USER_MODEL), vendor=vendor,
        default_auto_field=str(settings.DEFAULT_AUTO_FIELD))
    wanted = [label for label in labels if label not in set(config.exclude_apps)]
    selection, _ = build_selection(loaded, config, app_labels=wanted, paths=changed)
    return run_lint(loaded, config, profile, selection, scope=scope)
