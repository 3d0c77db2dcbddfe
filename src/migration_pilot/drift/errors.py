"""Errors `pilot verify` raises on purpose: each a one-line message with the remedy, exit code 2."""

from __future__ import annotations

from migration_pilot.exceptions import PilotError


class ShadowMigrationError(PilotError, RuntimeError):
    """A migration failed while building the shadow (reference) database."""

    def __init__(self, app: str, name: str, reason: str) -> None:
        self.app, self.name, self.reason = app, name, reason

    def __str__(self) -> str:
        return (
            f"Migration {self.app}.{self.name} failed while building the shadow database: {self.reason}."
            " Fix the migration (it would fail on a fresh database too), then run verify again."
        )


class ShadowDatabaseError(PilotError, RuntimeError):
    """The scratch database could be created but not used (or it is not the one we created)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason

    def __str__(self) -> str:
        return (f"Cannot use the shadow database {self.name}: {self.reason}."
                " Check the DATABASES OPTIONS of the alias (service files, 'database' options).")


class IncompatibleAliasesError(PilotError, ValueError):
    """--against names a database of another engine."""

    def __init__(self, alias: str, vendor: str, other: str, other_vendor: str) -> None:
        self.alias, self.vendor, self.other, self.other_vendor = alias, vendor, other, other_vendor

    def __str__(self) -> str:
        return (f"Cannot compare {self.alias!r} ({self.vendor}) against {self.other!r} ({self.other_vendor}):"
                " --against needs two databases of the same engine.")


class SameAliasError(PilotError, ValueError):
    """--against names the alias being verified."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def __str__(self) -> str:
        return f"--against {self.alias!r} is the database being verified; name another alias."


class CatalogReadError(PilotError, RuntimeError):
    """The catalogs of the verified database cannot be read (privileges, server error)."""

    def __init__(self, alias: str, reason: str) -> None:
        self.alias, self.reason = alias, reason

    def __str__(self) -> str:
        return (f"Cannot read the schema of database alias {self.alias!r}: {self.reason}."
                " The verify user needs read access to the catalogs (information_schema / pg_catalog).")


class UnsupportedVendorError(PilotError, ValueError):
    """Verify knows PostgreSQL, MySQL/MariaDB and SQLite only."""

    def __init__(self, alias: str, vendor: str) -> None:
        self.alias, self.vendor = alias, vendor

    def __str__(self) -> str:
        return (f"Database alias {self.alias!r} uses {self.vendor}; verify supports PostgreSQL,"
                " MySQL/MariaDB and SQLite.")


class ReferenceUnavailableError(PilotError, RuntimeError):
    """`verify --prepare` needs a shadow database and the server refused to create one."""

    def __init__(self, alias: str, reason: str) -> None:
        self.alias, self.reason = alias, reason

    def __str__(self) -> str:
        return (f"Cannot prepare the reference schema on {self.alias!r}: creating a shadow database failed"
                f" ({self.reason}). Grant CREATEDB (PostgreSQL) or CREATE on `pilot_shadow_%` (MySQL).")
