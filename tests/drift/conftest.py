from __future__ import annotations

import pytest

from tests.databases import scratch_database
from tests.drift.project import Project


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def vendor(request):
    return request.param


@pytest.fixture
def project(vendor, request, tmp_path, scratch_db_access):
    """examples/shop copied into tmp_path, on an empty database of each vendor (not migrated yet)."""
    if vendor == "sqlite":
        yield Project(tmp_path / "shop", vendor, None, str(tmp_path / "db.sqlite3"))
        return
    server = request.getfixturevalue(f"{vendor}_server")
    with scratch_database(server, "pilot_verify") as name:
        yield Project(tmp_path / "shop", vendor, server, name)
