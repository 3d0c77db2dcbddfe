"""The plugin end to end on a MySQL/MariaDB server: the same suites as on SQLite, and no database left behind."""

from __future__ import annotations

from tests.testing.servers import run_on_server


def test_suite_on_mysql_leaves_nothing_behind(mysql_server, tmp_path):
    run_on_server(mysql_server, tmp_path)
