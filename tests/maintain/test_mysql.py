"""MySQL/MariaDB: a user without INSERT on the table cannot ANALYZE it: one line naming the grant, exit 1."""

from __future__ import annotations

import uuid

from tests.databases import admin_connection, scratch_database
from tests.pipeline.project import DeployProject, database_settings


def test_user_without_insert_gets_a_one_line_error_naming_the_grant(mysql_server, tmp_path, scratch_db_access):
    user = f"pilot_m_{uuid.uuid4().hex[:8]}"
    with scratch_database(mysql_server, "pilot_maint") as name:
        owner = DeployProject(tmp_path / "owner", database_settings("mysql", mysql_server, name))
        assert owner.deploy().code == 0
        with admin_connection(mysql_server) as conn:
            conn.cursor().execute(f"CREATE USER '{user}'@'%'")
            conn.cursor().execute(f"GRANT SELECT ON `{name}`.* TO '{user}'@'%'")
        try:
            settings = {**database_settings("mysql", mysql_server, name), "USER": user, "PASSWORD": ""}
            reader = DeployProject(tmp_path / "reader", settings)

            result = reader.run("maintain", "--table", "shop_invoice")

            assert result.code == 1, result.out + result.err
            (line,) = result.err.strip().splitlines()
            assert line.startswith("error: ") and "ANALYZE" in line
            assert line.endswith(f"GRANT SELECT, INSERT ON {name}.shop_invoice TO <user>")
        finally:
            with admin_connection(mysql_server) as conn:
                conn.cursor().execute(f"DROP USER '{user}'@'%'")
