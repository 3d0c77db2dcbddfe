from __future__ import annotations

import pytest

from tests.backup.shop import Shop
from tests.databases import scratch_database


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def vendor(request):
    return request.param


@pytest.fixture
def shop(vendor, request, tmp_path, scratch_db_access):
    """The example shop, migrated, on a fresh database of each vendor."""
    if vendor == "sqlite":
        project = Shop("sqlite", None, str(tmp_path / "shop.sqlite3"), tmp_path)
        project.migrate()
        yield project
        return
    server = request.getfixturevalue(f"{vendor}_server")
    with scratch_database(server, "pilot_backup") as name:
        project = Shop(vendor, server, name, tmp_path)
        project.migrate()
        yield project
