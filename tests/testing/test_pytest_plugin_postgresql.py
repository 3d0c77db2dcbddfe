"""The plugin end to end on a PostgreSQL server: the same suites as on SQLite, and no database left behind."""

from __future__ import annotations

from tests.testing.servers import run_on_server


def test_suite_on_postgresql_leaves_nothing_behind(postgresql_server, tmp_path):
    run_on_server(postgresql_server, tmp_path)



def test_database_only_migration_tests_use_is_dropped_with_the_snapshots(postgresql_server, tmp_path):
    """No test asks pytest-django for the database: the plugin creates it and drops it in its final batch."""
    run_on_server(postgresql_server, tmp_path, "-m", "migration_test and not django_db", "-k", "not Unittest",
                  deselected={"test_factory_for_another_database", "TestBalanceWithUnittest::test_filled",
                              "test_with_a_django_db_mark_as_dtm_docs_write_it",
                              "test_4_plain_test_sees_latest_schema"})
