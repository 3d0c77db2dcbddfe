"""A project that targets PostgreSQL and MySQL/MariaDB or SQLite gets fixes every vendor runs, or none.

Issue 16: lint's PostgreSQL fix (AddIndexConcurrently) crashed a MariaDB deploy. Each
fix is applied here on every vendor the project names, through Django's executor.
"""

import pytest
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Q
from django.test.utils import override_settings

from migration_pilot.lint.vendors import for_vendors, postgresql_only
from tests.databases import scratch_connection
from tests.lint.helpers import lint_one, write_package

MIXED = {"vendors": ["postgresql", "mysql", "sqlite"]}
ADD_INDEX = migrations.AddIndex("order", models.Index(fields=["status"], name="order_status_idx"))
ADD_CHECK = migrations.AddConstraint(
    "order", models.CheckConstraint(condition=Q(quantity__gte=0), name="order_quantity_gte_0"))


def test_postgresql_only_project_keeps_the_concurrent_fix():
    with override_settings(MIGRATION_PILOT={"vendors": ["postgresql"]}):
        (diagnostic,) = lint_one("add-index-non-concurrent", [ADD_INDEX])

    assert "AddIndexConcurrently(" in (diagnostic.safe_alternative or "")


def test_mixed_vendor_project_gets_the_vendor_aware_operation():
    with override_settings(MIGRATION_PILOT=MIXED):
        (diagnostic,) = lint_one("add-index-non-concurrent", [ADD_INDEX])
    fix = diagnostic.safe_alternative or ""

    assert "AddIndexOnline(" in fix and "from migration_pilot.operations import AddIndexOnline" in fix
    assert "AddIndexConcurrently" not in fix and "django.contrib.postgres" not in fix
    assert postgresql_only(fix) is None


def test_mixed_vendor_project_gets_no_postgresql_only_fix_and_is_told_why():
    with override_settings(MIGRATION_PILOT=MIXED):
        (diagnostic,) = lint_one("add-check-constraint-validating", [ADD_CHECK])

    assert diagnostic.safe_alternative is None
    assert "No fix is given: the safe form uses" in diagnostic.hint
    assert "this project also targets mysql, sqlite" in diagnostic.hint
    with override_settings(MIGRATION_PILOT={"vendors": ["postgresql"]}):
        (alone,) = lint_one("add-check-constraint-validating", [ADD_CHECK])
    assert alone.safe_alternative is not None and "No fix is given" not in alone.hint


def test_a_comment_that_says_concurrently_is_not_code():
    fix = "# built concurrently\nfrom django.db import migrations\n"

    assert for_vendors(fix, {"postgresql", "mysql"}) == (fix, None)


@pytest.mark.parametrize("vendor", ["postgresql", "mysql", "sqlite"])
def test_mixed_vendor_fix_builds_the_index_on_every_vendor(vendor, request, tmp_path):
    request.getfixturevalue("scratch_db_access")
    server = None if vendor == "sqlite" else request.getfixturevalue(f"{vendor}_server")
    with override_settings(MIGRATION_PILOT=MIXED):
        (diagnostic,) = lint_one("add-index-non-concurrent", [ADD_INDEX])
    package = write_package({"0002_change": diagnostic.safe_alternative or ""})

    with (scratch_connection(vendor, server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        executor = MigrationExecutor(connection)
        executor.migrate([("testapp", "0002_change")])
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, "testapp_order")
        executor.loader.build_graph()
        executor.migrate([("testapp", "0001_initial")])
        with connection.cursor() as cursor:
            after_rollback = connection.introspection.get_constraints(cursor, "testapp_order")

    assert constraints["order_status_idx"]["index"] and constraints["order_status_idx"]["columns"] == ["status"]
    assert "order_status_idx" not in after_rollback
