"""`lint()`: every hazard in the selected migrations, as Diagnostic values."""

from __future__ import annotations

from collections.abc import Collection

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections

from migration_pilot.backends import BackendProfile, profile_for
from migration_pilot.conf import Config, load_config
from migration_pilot.exceptions import UnknownDatabaseError
from migration_pilot.lint.context import Scope
from migration_pilot.lint.engine import LintResult, build_selection, run_lint
from migration_pilot.loader import load_graph

__all__ = ["LintResult", "lint", "vendor_of_alias"]


def vendor_of_alias(alias: str) -> str:
    """Vendor of a database alias from its ENGINE, without opening a connection."""
    if alias not in settings.DATABASES:
        raise UnknownDatabaseError(alias, known=settings.DATABASES)
    try:
        return str(connections[alias].vendor)
    except ImproperlyConfigured:
        # The driver is not installed here; the ENGINE path still names the vendor.
        engine = str(settings.DATABASES[alias].get("ENGINE", "")).lower()
        for vendor in ("postgresql", "postgis", "mysql", "sqlite"):
            if vendor in engine:
                return "postgresql" if vendor == "postgis" else vendor
        return "unknown"


def lint(
    app_labels: Collection[str] = (),
    *,
    config: Config | None = None,
    database: str = "default",
    vendor: str | None = None,
    all_apps: bool = False,
    paths: Collection[str] | None = None,
    scope: Scope | None = None,
) -> LintResult:
    """Lint migrations without touching any database.

    `vendor` overrides the vendor of `database`; `paths` limits linting to
    migration files at those absolute paths (for --since).
    """
    config = config or load_config()
    configured = vendor_of_alias(database) if database in settings.DATABASES or not vendor \
        else None
    target = vendor or configured or "unknown"
    profile: BackendProfile = profile_for(target, config.pg_version if target == "postgresql"
                                          else None)
    loaded = load_graph()
    selection, skipped = build_selection(
        loaded, config, app_labels=app_labels, all_apps=all_apps, paths=paths
    )
    # Migration modules that branch at import time read django.db.connection: the default alias.
    loaded_with = vendor_of_alias(DEFAULT_DB_ALIAS) if DEFAULT_DB_ALIAS in settings.DATABASES \
        else None
    return run_lint(loaded, config, profile, selection, scope=scope, skipped_apps=skipped,
                    settings_vendor=configured, load_vendor=loaded_with)
