"""Backend profiles keyed by Django's `connection.vendor`."""

from __future__ import annotations

from migration_pilot.backends.base import DDL, BackendProfile
from migration_pilot.backends.mysql import MySQLProfile
from migration_pilot.backends.postgresql import DEFAULT_PG_VERSION, PostgreSQLProfile
from migration_pilot.backends.sqlite import SQLiteProfile

__all__ = [
    "DDL",
    "DEFAULT_PG_VERSION",
    "BackendProfile",
    "MySQLProfile",
    "PostgreSQLProfile",
    "SQLiteProfile",
    "profile_for",
]


def profile_for(vendor: str, version: int | None = None) -> BackendProfile:
    """The profile for `vendor`; an unknown vendor gets the conservative base profile."""
    cls = BackendProfile.registry.get(vendor, BackendProfile)
    return cls(version)
