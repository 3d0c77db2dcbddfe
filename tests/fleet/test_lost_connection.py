"""A lost connection to one tenant mid-fleet: that tenant fails with one line, the rest as deploy would.

The test holds a lock on one tenant's table, waits until the deploy's session
for that tenant queues behind it (pg_blocking_pids, this database only), then
kills that session with pg_terminate_backend, as a network cut or a server-side
kill would end it.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import psycopg

from tests.fleet.project import FleetProject
from tests.pipeline.project import NOTE_FIELDS, wait_until

TENANTS = ["tenant_a", "tenant_b", "tenant_c"]
LOST = "tenant_b"
PREPARED = ("SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"
            " AND gid LIKE 'pilot-fleet-%'")

# Runs Python, so the tenant goes through Django's executor on the deploy's own connection (the slow path).
RUN_PYTHON_NOTE = '''
from django.db import migrations, models


def touch(apps, schema_editor):
    apps.get_model("shop", "Invoice").objects.update(amount=1)


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True)),
        migrations.RunPython(touch, migrations.RunPython.noop),
    ]
'''


def _at_0001(project: FleetProject) -> None:
    project.schemas(TENANTS)
    result = project.fleet("--no-backup")
    assert result.code == 0, result.out + result.err


def _has_note(project: FleetProject, schema: str) -> bool:
    return bool(project.sql("SELECT 1 FROM information_schema.columns WHERE table_schema = %s"
                            " AND table_name = 'shop_invoice' AND column_name = 'note'", [schema]))


def _kill_while_blocked(project: FleetProject, *args: str) -> tuple[int, str, str]:
    """Run the deploy with `LOST`'s table locked; kill the session that waits on it; (code, out, err)."""
    server = project.server
    holder = psycopg.connect(host=server.host, port=server.port, user=server.user, dbname=project.name)
    try:
        holder.execute(f'LOCK TABLE "{LOST}".shop_invoice IN ACCESS EXCLUSIVE MODE')
        holder_pid = holder.info.backend_pid
        process = project.start("deploy", "--fleet", "--no-backup", "--lock-timeout", "60s", "--retry-delay",
                                "0.1s", *args)
        blocked: list[Any] = []

        def waiting() -> bool:
            blocked[:] = project.sql("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                     " AND %s = ANY(pg_blocking_pids(pid))", [holder_pid])
            return bool(blocked) or process.poll() is not None

        wait_until(waiting, timeout=30)
        assert blocked, "the deploy ended without waiting on the locked tenant"
        killed = project.sql("SELECT pg_terminate_backend(%s)", [blocked[0][0]])
        assert killed == [(True,)]
    finally:
        holder.rollback()
        holder.close()
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError("the deploy hung after its connection was lost:\n" + out + err) from None
    return process.returncode, out, err


def _tenant_rows(project: FleetProject) -> dict[str, dict[str, Any]]:
    result = project.run("history", "--fleet", "--format", "json")
    assert result.code == 0, result.err
    return {t["tenant"]: t for t in json.loads(result.out)[0]["tenants"]}


def _assert_lost_recorded(project: FleetProject, out: str, err: str) -> None:
    assert "Traceback" not in err + out, err
    rows = _tenant_rows(project)
    assert rows[LOST]["outcome"] == "failed"
    error = rows[LOST]["error"]
    assert error and "\n" not in error
    assert "terminat" in error or "closed" in error or "lost" in error, error
    assert f"{LOST}: {error}" in out


def test_lost_connection_fails_that_tenant_others_finish_and_resume_completes(fleet_project):
    _at_0001(fleet_project)
    fleet_project.add_note()

    code, out, err = _kill_while_blocked(fleet_project, "--jobs", "1", "--keep-going")

    assert code == 4, out + err
    _assert_lost_recorded(fleet_project, out, err)
    assert "2 migrated, 0 not attempted" in out
    assert {t: _has_note(fleet_project, t) for t in TENANTS} == {"tenant_a": True, "tenant_b": False,
                                                                 "tenant_c": True}
    assert _tenant_rows(fleet_project)["tenant_c"]["outcome"] == "migrated"

    resumed = fleet_project.fleet("--no-backup", "--resume")

    assert resumed.code == 0, resumed.out + resumed.err
    assert "Deployed: 1 tenant(s) migrated, 2 already at the target." in resumed.out
    assert all(_has_note(fleet_project, t) for t in TENANTS)


def test_lost_connection_under_atomic_fleet_changes_no_schema(fleet_project):
    _at_0001(fleet_project)
    fleet_project.add_note()

    code, out, err = _kill_while_blocked(fleet_project, "--jobs", "2", "--atomic-fleet")

    assert code == 3, out + err
    _assert_lost_recorded(fleet_project, out, err)
    assert "no tenant was changed" in out
    assert not any(_has_note(fleet_project, t) for t in TENANTS)
    assert fleet_project.sql(PREPARED) == [(0,)]

    resumed = fleet_project.fleet("--no-backup", "--resume", "--atomic-fleet")

    assert resumed.code == 0, resumed.out + resumed.err
    assert all(_has_note(fleet_project, t) for t in TENANTS)


def test_lost_connection_on_the_executor_path_fails_that_tenant_only(fleet_project):
    _at_0001(fleet_project)
    fleet_project.models(NOTE_FIELDS)
    fleet_project.migration("0002_note", RUN_PYTHON_NOTE)

    code, out, err = _kill_while_blocked(fleet_project, "--jobs", "1", "--keep-going")

    assert code == 4, out + err
    _assert_lost_recorded(fleet_project, out, err)
    assert {t: _has_note(fleet_project, t) for t in TENANTS} == {"tenant_a": True, "tenant_b": False,
                                                                 "tenant_c": True}

    resumed = fleet_project.fleet("--no-backup", "--resume")

    assert resumed.code == 0, resumed.out + resumed.err
    assert all(_has_note(fleet_project, t) for t in TENANTS)
