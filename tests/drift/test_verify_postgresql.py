"""PostgreSQL-only drift: NOT VALID constraints and INVALID indexes."""

from __future__ import annotations

import pytest

from tests.databases import scratch_database
from tests.drift.project import Project, kinds


@pytest.fixture
def pg_project(postgresql_server, tmp_path):
    with scratch_database(postgresql_server, "pilot_verify") as name:
        project = Project(tmp_path / "shop", "postgresql", postgresql_server, name)
        project.migrate()
        yield project


def _fk(project):
    return project.query("SELECT conname FROM pg_constraint WHERE conrelid = 'billing_invoice'::regclass"
                         " AND contype = 'f'")[0][0]


def test_unvalidated_constraint(pg_project):
    fk = _fk(pg_project)
    pg_project.sql(f"ALTER TABLE billing_invoice DROP CONSTRAINT {fk}",
                   f"ALTER TABLE billing_invoice ADD CONSTRAINT {fk} FOREIGN KEY (order_id) REFERENCES"
                   " orders_order (id) DEFERRABLE INITIALLY DEFERRED NOT VALID")

    result = pg_project.verify()

    assert result.code == 1
    (difference,) = result.json()["differences"]
    assert (difference["kind"], difference["table"], difference["object"]) == (
        "unvalidated_constraint", "billing_invoice", fk)
    assert difference["fix"].startswith(f'ALTER TABLE "billing_invoice" VALIDATE CONSTRAINT "{fk}";')


def test_invalid_index_marked_by_hand(pg_project):
    pg_project.sql("UPDATE pg_index SET indisvalid = false"
                   " WHERE indexrelid = 'order_tracking_number_idx'::regclass")

    result = pg_project.verify()

    assert result.code == 1
    assert kinds(result) == {("invalid_index", "orders_order", "order_tracking_number_idx")}
    (difference,) = result.json()["differences"]
    assert "CREATE INDEX CONCURRENTLY" in difference["cause"]
    assert 'REINDEX INDEX CONCURRENTLY "order_tracking_number_idx"' in difference["fix"]


def test_invalid_index_left_by_a_failed_concurrent_build(pg_project):
    pg_project.sql("INSERT INTO customers_customer (name, email, created_at)"
                   " VALUES ('same', 'a@example.com', now()), ('same', 'b@example.com', now())")
    with pytest.raises(Exception, match="could not create unique index"):
        pg_project.sql("CREATE UNIQUE INDEX CONCURRENTLY customer_name_uniq ON customers_customer (name)")

    result = pg_project.verify()

    assert result.code == 1
    assert kinds(result) == {("invalid_index", "customers_customer", "customer_name_uniq")}


def test_strict_names_reports_a_renamed_index(pg_project):
    pg_project.sql("ALTER INDEX order_tracking_number_idx RENAME TO tracking_idx_renamed")

    loose = pg_project.verify()
    strict = pg_project.verify("--strict-names")

    assert loose.code == 0, loose.out
    assert strict.code == 1
    (difference,) = strict.json()["differences"]
    assert (difference["kind"], difference["expected"], difference["actual"]) == (
        "index_name", "order_tracking_number_idx", "tracking_idx_renamed")
    assert difference["fix"] == 'ALTER INDEX "tracking_idx_renamed" RENAME TO "order_tracking_number_idx";'


def test_view_not_managed_by_django_is_reported_separately(pg_project):
    pg_project.sql("CREATE VIEW paid_orders AS SELECT id FROM orders_order WHERE status = 'paid'")

    result = pg_project.verify()

    assert result.code == 0
    (difference,) = result.json()["differences"]
    assert (difference["kind"], difference["severity"]) == ("unmanaged_view", "info")


def test_falls_back_to_the_migration_state_without_createdb(postgresql_server, tmp_path):
    from tests.databases import admin_connection

    role = f"pilot_nocreate_{tmp_path.name[-8:].replace('-', '_')}".lower()
    with admin_connection(postgresql_server) as conn:
        conn.cursor().execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        with scratch_database(postgresql_server, "pilot_verify") as name:
            with admin_connection(postgresql_server) as conn:
                conn.cursor().execute(f"ALTER DATABASE {name} OWNER TO {role}")
            with admin_connection(postgresql_server, name) as conn:
                conn.cursor().execute(f"ALTER SCHEMA public OWNER TO {role}")
            project = Project(tmp_path / "shop", "postgresql", postgresql_server, name)
            url = project.server.url(name).replace(f"{postgresql_server.user}@", f"{role}@")
            assert project.manage("migrate", "-v", "0", DATABASE_URL=url).code == 0

            clean = project.manage("pilot", "verify", "--format", "json", DATABASE_URL=url)
            project.sql("ALTER TABLE orders_order ALTER COLUMN status DROP NOT NULL")
            drift = project.manage("pilot", "verify", "--format", "json", DATABASE_URL=url)
    finally:
        with admin_connection(postgresql_server) as conn:
            conn.cursor().execute(f"DROP ROLE IF EXISTS {role}")

    assert clean.code == 0, clean.out + clean.err
    assert clean.json()["reference"] == "state"
    assert "Could not create a shadow database" in clean.json()["notes"][0]
    assert drift.code == 1
    assert kinds(drift) == {("column_nullability", "orders_order", "status")}
