from __future__ import annotations

import pytest

from tests.databases import scratch_database
from tests.fleet.project import FleetProject


@pytest.fixture
def fleet_project(postgresql_server, tmp_path, scratch_db_access):
    """A FleetProject on a scratch PostgreSQL database (no tenant schemas yet)."""
    with scratch_database(postgresql_server, "pilot_fleet") as name:
        yield FleetProject(tmp_path / "project", postgresql_server, name)
