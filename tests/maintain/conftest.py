from __future__ import annotations

import pytest

from tests.databases import scratch_database
from tests.pipeline.project import DeployProject, database_settings


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def vendor(request):
    return request.param


@pytest.fixture
def deployed(vendor, request, tmp_path, scratch_db_access):
    """(project, vendor, server, database name): shop.0001 deployed on a fresh database of each vendor."""
    server = None if vendor == "sqlite" else request.getfixturevalue(f"{vendor}_server")
    if vendor == "sqlite":
        name = str(tmp_path / "db.sqlite3")
        project = DeployProject(tmp_path / "project", database_settings(vendor, None, name))
        assert project.deploy().code == 0
        yield project, vendor, None, name
        return
    with scratch_database(server, "pilot_maint") as name:
        project = DeployProject(tmp_path / "project", database_settings(vendor, server, name))
        assert project.deploy().code == 0
        yield project, vendor, server, name


@pytest.fixture
def pg_deployed(postgresql_server, tmp_path, scratch_db_access):
    """(project, server, name): PostgreSQL with shop.0001 deployed."""
    with scratch_database(postgresql_server, "pilot_maint") as name:
        project = DeployProject(tmp_path / "project", database_settings("postgresql", postgresql_server, name))
        assert project.deploy().code == 0
        yield project, postgresql_server, name
