"""Shared fixtures: real database servers, gated by reachability.

A test marked `postgresql` or `mysql` runs against the real server on
127.0.0.1. When the server is unreachable it is skipped with the reason,
unless MIGRATION_PILOT_REQUIRE_DATABASES names that vendor (CI sets it),
in which case the run fails.
"""

from __future__ import annotations

import os

import pytest

from tests import databases


def _required() -> set[str]:
    raw = os.environ.get("MIGRATION_PILOT_REQUIRE_DATABASES", "")
    names = {part.strip().lower() for part in raw.replace(";", ",").split(",") if part.strip()}
    return {"mysql" if n in {"mariadb", "mysql"} else "postgresql" if n in {"postgres", "pg"}
            else n for n in names}


def _server_or_skip(vendor: str) -> databases.Server:
    server, reason = databases.probe(vendor)
    if server is None:
        if vendor in _required():
            pytest.fail(f"{vendor} is required by MIGRATION_PILOT_REQUIRE_DATABASES but {reason}")
        pytest.skip(f"{vendor} not available: {reason}")
    return server


@pytest.fixture
def scratch_db_access(django_db_blocker):
    """Allow connections to scratch databases (never the test run's own aliases)."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def postgresql_server(scratch_db_access) -> databases.Server:
    """Connection facts for the PostgreSQL server (skip or fail when unreachable)."""
    return _server_or_skip("postgresql")


@pytest.fixture
def mysql_server(scratch_db_access) -> databases.Server:
    """Connection facts for the MariaDB/MySQL server (skip or fail when unreachable)."""
    return _server_or_skip("mysql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "postgresql_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgresql)
        if "mysql_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mysql)
