"""The deploy runs on the project's own database backend, never a swapped ENGINE (PostGIS and friends)."""

from __future__ import annotations

from tests.databases import scratch_database
from tests.pipeline.inspect_db import applied
from tests.pipeline.project import ADD_NOTE, DeployProject, database_settings, logging_backend


def test_deploy_uses_the_projects_own_backend(postgresql_server, tmp_path):
    log = tmp_path / "schema-editor.log"
    with scratch_database(postgresql_server, "pilot_backend") as name:
        engine = logging_backend(tmp_path / "project", log)
        project = DeployProject(tmp_path / "project", database_settings("postgresql", postgresql_server, name)
                                | {"ENGINE": engine})
        project.migration("0002_note", ADD_NOTE)
        project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
                       "    note = models.CharField(max_length=50, null=True)")

        result = project.deploy("--format", "json")
        now_applied = applied("postgresql", postgresql_server, name)

    assert result.code == 0, result.out + result.err
    assert ("shop", "0002_note") in now_applied
    statements = log.read_text()
    assert 'CREATE TABLE "shop_invoice"' in statements
    assert 'ALTER TABLE "shop_invoice" ADD COLUMN "note"' in statements
