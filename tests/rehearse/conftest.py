from __future__ import annotations

import pytest

from tests.databases import scratch_database
from tests.pipeline.project import DeployProject, database_settings


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def vendor(request):
    return request.param


@pytest.fixture
def deployable(vendor, request, tmp_path, scratch_db_access):
    """(project, vendor, server, live database name) on a fresh database of each vendor."""
    server = None if vendor == "sqlite" else request.getfixturevalue(f"{vendor}_server")
    if vendor == "sqlite":
        name = str(tmp_path / "db.sqlite3")
        yield DeployProject(tmp_path / "project", database_settings(vendor, None, name)), vendor, None, name
        return
    with scratch_database(server, "pilot_rh") as name:
        yield DeployProject(tmp_path / "project", database_settings(vendor, server, name)), vendor, server, name
