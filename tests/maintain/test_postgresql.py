"""PostgreSQL: an INVALID index is rebuilt CONCURRENTLY, dead tuples trigger VACUUM, privileges are checked."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from tests.databases import admin_connection
from tests.pipeline.inspect_db import query
from tests.pipeline.project import DeployProject, database_settings, wait_until


def make_invalid_unique_index(server, name):
    query("postgresql", server, name, "INSERT INTO shop_invoice (number, amount) VALUES ('dup', 1), ('dup', 2)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        query("postgresql", server, name, "CREATE UNIQUE INDEX CONCURRENTLY invoice_number_uniq"
                                          " ON shop_invoice (number)")


def index_valid(server, name):
    return query("postgresql", server, name, "SELECT x.indisvalid FROM pg_index x JOIN pg_class i"
                                             " ON i.oid = x.indexrelid WHERE i.relname = 'invoice_number_uniq'")


def test_invalid_index_is_reported_then_rebuilt_concurrently_once_the_data_is_fixed(pg_deployed):
    project, server, name = pg_deployed
    make_invalid_unique_index(server, name)
    assert index_valid(server, name) == [(False,)]
    query("postgresql", server, name, "DELETE FROM shop_invoice WHERE amount = 2")

    report = project.run("maintain", "--dry-run")
    still_invalid = index_valid(server, name)
    result = project.run("maintain")

    assert report.code == 0, report.out + report.err
    assert "INVALID index: invoice_number_uniq on shop_invoice (number)." in report.out
    assert 'REINDEX INDEX CONCURRENTLY "public"."invoice_number_uniq";' in report.out
    assert still_invalid == [(False,)]  # the dry run changed nothing
    assert result.code == 0, result.out + result.err
    assert index_valid(server, name) == [(True,)]


def test_reindex_of_still_duplicate_data_fails_with_exit_1(pg_deployed):
    project, server, name = pg_deployed
    make_invalid_unique_index(server, name)

    result = project.run("maintain")

    assert result.code == 1, result.out + result.err
    assert 'Failed: REINDEX INDEX CONCURRENTLY "public"."invoice_number_uniq": could not create unique index' \
        in result.out
    assert "Ran 1 of 2 statement(s) on default; 1 failed." in result.out  # ANALYZE still ran


def make_dead_tuples(server, name):
    with admin_connection(server, name) as conn:
        conn.execute("ALTER TABLE shop_invoice SET (autovacuum_enabled = false)")
        conn.execute("INSERT INTO shop_invoice (number, amount) SELECT 'n' || g, g FROM generate_series(1, 5000) g")
        conn.execute("UPDATE shop_invoice SET amount = amount + 1")
        conn.execute("SELECT pg_stat_force_next_flush()")

    def counted():
        rows = query("postgresql", server, name,
                     "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'shop_invoice'")
        return rows and rows[0][0] >= 4000

    wait_until(counted)


def test_dead_tuples_over_the_threshold_trigger_vacuum(pg_deployed):
    project, server, name = pg_deployed
    make_dead_tuples(server, name)

    result = project.run("maintain", "--format", "json")

    assert result.code == 0, result.out + result.err
    payload = json.loads(result.out)
    (table,) = payload["tables"]
    assert table["dead_ratio"] > 0.4 and table["bloat_bytes"] > 0
    assert [a["sql"] for a in payload["actions"]] == ['VACUUM (ANALYZE) "shop_invoice"']
    wait_until(lambda: query("postgresql", server, name, "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables"
                                                         " WHERE relname = 'shop_invoice'") == [(True,)])


def test_dead_tuples_under_a_higher_threshold_only_analyze(pg_deployed):
    project, server, name = pg_deployed
    make_dead_tuples(server, name)

    result = project.run("maintain", "--dry-run", "--dead-tuple-ratio", "0.9")

    assert result.code == 0, result.out + result.err
    assert 'ANALYZE "shop_invoice";' in result.out and "VACUUM" not in result.out


def test_vacuum_full_is_refused_without_allow_blocking(pg_deployed):
    project, server, name = pg_deployed
    make_dead_tuples(server, name)

    refused = project.run("maintain", "--vacuum")
    allowed = project.run("maintain", "--vacuum", "--allow-blocking")

    assert refused.code == 2
    assert refused.err.strip() == (
        'error: VACUUM (FULL, ANALYZE) "shop_invoice" takes ACCESS EXCLUSIVE on the table: reads and writes wait'
        " until the rewrite ends; add --allow-blocking to run it anyway (in a maintenance window), or drop --vacuum.")
    assert allowed.code == 0, allowed.out + allowed.err
    assert 'VACUUM (FULL, ANALYZE) "shop_invoice": done' in allowed.out


def test_role_that_does_not_own_the_table_gets_a_one_line_error(pg_deployed, tmp_path):
    project, server, name = pg_deployed
    role = f"pilot_maint_{uuid.uuid4().hex[:8]}"
    with admin_connection(server) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    with admin_connection(server, name) as conn:  # it may read (every command checks that first), not maintain
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        settings = {**database_settings("postgresql", server, name), "USER": role}
        other = DeployProject(tmp_path / "other", settings)

        result = other.run("maintain", "--table", "shop_invoice")

        assert result.code == 1, result.out + result.err
        assert result.err.strip() == (
            f"error: role {role} may not ANALYZE, VACUUM or REINDEX shop_invoice: only its owner postgres may;"
            f" run as postgres, or grant it: GRANT postgres TO {role}")
    finally:
        with admin_connection(server, name) as conn:
            conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        with admin_connection(server) as conn:
            conn.execute(f"DROP ROLE {role}")


def test_deploy_analyze_yields_like_autovacuum_and_restores_the_session(postgresql_server):
    """The deploy's ANALYZE runs with autovacuum's cost delay (unthrottled, it took the application's p99 from
    7 ms to 50 ms after a 2M-row swap in bench/online), and the session gets its own setting back."""
    from django.db.utils import ConnectionHandler

    from migration_pilot.maintain import after_deploy
    from tests.databases import scratch_database

    with scratch_database(postgresql_server, "pilot_throttle") as name:
        connection = ConnectionHandler({"default": postgresql_server.django_settings(name)})["default"]
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET vacuum_cost_delay = 0")
            seen = []
            with after_deploy._throttled(connection), connection.cursor() as cursor:
                cursor.execute("SHOW vacuum_cost_delay")
                seen.append(cursor.fetchone()[0])
            with connection.cursor() as cursor:
                cursor.execute("SHOW vacuum_cost_delay")
                seen.append(cursor.fetchone()[0])
        finally:
            connection.close()

    assert seen == [after_deploy.ANALYZE_COST_DELAY, "0"]
