from __future__ import annotations

import pytest

from tests.databases import scratch_database
from tests.pipeline.project import DeployProject, database_settings


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def vendor(request):
    return request.param


@pytest.fixture
def deployable(vendor, request, tmp_path, scratch_db_access):
    """(project, vendor, server, database name) on a fresh database of each vendor."""
    server = None if vendor == "sqlite" else request.getfixturevalue(f"{vendor}_server")
    if vendor == "sqlite":
        name = str(tmp_path / "db.sqlite3")
        yield DeployProject(tmp_path / "project", database_settings(vendor, None, name)), vendor, None, name
        return
    with scratch_database(server, "pilot_deploy") as name:
        yield DeployProject(tmp_path / "project", database_settings(vendor, server, name)), vendor, server, name


@pytest.fixture
def pg_deployed(postgresql_server, tmp_path, scratch_db_access):
    """(project, server, database name): a PostgreSQL project with shop.0001 deployed on a scratch database."""
    with scratch_database(postgresql_server, "pilot_pg") as name:
        project = DeployProject(tmp_path / "project", database_settings("postgresql", postgresql_server, name))
        assert project.deploy().code == 0
        yield project, postgresql_server, name
