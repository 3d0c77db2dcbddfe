"""A6 and S9 at the start of a deploy: the server's own timeouts in the banner, a superuser warned.

A role-level `ALTER ROLE ... SET statement_timeout` would cut a migration short
without the tool saying why: the banner shows the server's session timeouts as
the role gets them, and the deploy's own statement timeout (none by default)
takes their place for each migration, so a statement longer than the role's
limit still runs. A deploy run as a superuser (PostgreSQL SUPERUSER, MariaDB
SUPER) is warned once; a least-privileged role is not.
"""

from __future__ import annotations

from tests.databases import admin_connection, scratch_database
from tests.pipeline.inspect_db import applied
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS
from tests.pipeline.test_least_privilege import as_user, my_user, pg_role

SLEEP = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunSQL("SELECT pg_sleep(1.5)", migrations.RunSQL.noop)]
'''


def test_superuser_is_warned_and_server_timeouts_shown(deployable):
    project, vendor, server, name = deployable

    result = project.deploy()

    assert result.code == 0, result.out + result.err
    warned = [line for line in result.out.splitlines() if "superuser" in line or "holds SUPER" in line]
    if vendor == "sqlite":
        assert warned == [] and "Server session settings" not in result.out
        return
    assert len(warned) == 1 and warned[0].startswith("Warning: "), result.out
    assert "a mistake in a migration can then touch any database on the server" in warned[0]
    settings = next(line for line in result.out.splitlines() if line.startswith("Server session settings: "))
    if vendor == "postgresql":
        assert "statement_timeout 0" in settings and "idle_in_transaction_session_timeout " in settings
    else:
        assert "lock_wait_timeout " in settings and "max_statement_time " in settings
    # Said before the lock is taken and anything runs.
    assert result.out.index(warned[0]) < result.out.index("Holding the deploy lock.")


def test_role_level_statement_timeout_is_shown_and_overridden(postgresql_server, tmp_path):
    server = postgresql_server
    with pg_role(server) as role, scratch_database(server, "pilot_rt") as name:
        with admin_connection(server, name) as conn:
            cursor = conn.cursor()
            cursor.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
            cursor.execute(f"ALTER ROLE {role} SET statement_timeout = '1s'")
            cursor.execute(f"ALTER ROLE {role} SET idle_in_transaction_session_timeout = '5min'")
        project = as_user(server, name, role, tmp_path, "timeouts")
        project.migration("0002_note", ADD_NOTE)
        project.migration("0003_sleep", SLEEP)
        project.models(NOTE_FIELDS)

        result = project.deploy()
        bounded = None
        if result.code == 0:
            # The deploy's own statement timeout is what bounds a migration: below 1.5 s it is cut off.
            project.migration("0004_sleep", SLEEP.replace("0002_note", "0003_sleep"))
            bounded = project.deploy("--statement-timeout", "1200ms", "--lock-timeout", "100ms")
        recorded = applied("postgresql", server, name)

    assert result.code == 0, result.out + result.err
    assert ("Server session settings: lock_timeout 0, statement_timeout 1s,"
            " idle_in_transaction_session_timeout 5min") in result.out, result.out
    assert "superuser" not in result.out
    assert ("shop", "0003_sleep") in recorded
    assert bounded is not None and bounded.code != 0, bounded
    assert "statement timeout" in (bounded.out + bounded.err).lower()
    assert ("shop", "0004_sleep") not in recorded


def test_mariadb_user_without_super_is_not_warned(mysql_server, tmp_path):
    server = mysql_server
    with scratch_database(server, "pilot_rt") as name, my_user(server, name, "ALL PRIVILEGES") as user:
        result = as_user(server, name, user, tmp_path, "owner").deploy()

    assert result.code == 0, result.out + result.err
    assert "SUPER" not in result.out and "superuser" not in result.out
    assert "Server session settings: lock_wait_timeout " in result.out
