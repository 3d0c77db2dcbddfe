"""MySQL/MariaDB commit each DDL statement: a migration failing part-way is journaled and undone.

The same migration on PostgreSQL rolls back as one transaction, so no journal
is needed there; the test shows both.
"""

from __future__ import annotations

from tests.pipeline.inspect_db import applied, query, schema_dump

THREE_STEPS = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True)),
        migrations.AddField("invoice", "code", models.CharField(max_length=10, null=True)),
        migrations.RunSQL("SELECT * FROM table_that_does_not_exist", migrations.RunSQL.noop),
    ]
'''
FIELDS = ("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
          "    note = models.CharField(max_length=50, null=True)\n    code = models.CharField(max_length=10, null=True)")


def columns(vendor, server, name):
    if vendor == "mysql":
        return sorted(r[0] for r in query(vendor, server, name, "SHOW COLUMNS FROM shop_invoice"))
    if vendor == "postgresql":
        return sorted(r[0] for r in query(vendor, server, name, "SELECT column_name FROM information_schema.columns"
                                                                " WHERE table_name = 'shop_invoice'"))
    return sorted(r[1] for r in query(vendor, server, name, "PRAGMA table_info(shop_invoice)"))


def prepared(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    before = schema_dump(vendor, server, name)
    project.migration("0002_three_steps", THREE_STEPS)
    project.models(FIELDS)
    return project, vendor, server, name, before


def test_part_way_failure_is_undone_step_by_step(deployable):
    project, vendor, server, name, before = prepared(deployable)

    result = project.deploy("--fail-on", "never")

    assert result.code == 3, result.out + result.err
    assert schema_dump(vendor, server, name) == before
    assert columns(vendor, server, name) == ["amount", "id", "number"]
    (row,) = [m for m in project.history()[0]["migrations"] if m["name"] == "0002_three_steps"]
    assert row["outcome"] == ("undone" if vendor == "mysql" else "failed")
    if vendor == "mysql":
        assert "Undoing the 2 operation(s) of shop.0002_three_steps" in result.out


def test_stopped_part_way_failure_makes_the_database_dirty_until_rollback(deployable):
    project, vendor, server, name, before = prepared(deployable)

    stopped = project.deploy("--fail-on", "never", "--on-failure", "stop")
    refused = project.deploy("--fail-on", "never")

    assert stopped.code == 4, stopped.out + stopped.err
    if vendor == "mysql":
        assert columns(vendor, server, name) == ["amount", "code", "id", "note", "number"]
        assert refused.code == 1
        assert "the database is dirty: shop.0002_three_steps failed after 2 operation(s)" in refused.out
        rollback = project.run("rollback", "--no-backup")
        assert "Undoing 2 finished operation(s) of shop.0002_three_steps" in rollback.out
        assert rollback.code == 0, rollback.out + rollback.err
    else:
        # Transactional DDL: the failed migration left nothing behind, so nothing is dirty and
        # the next deploy simply tries (and fails, and rolls back) again.
        assert refused.code == 3
    assert schema_dump(vendor, server, name) == before
    assert ("shop", "0002_three_steps") not in applied(vendor, server, name)


NON_ATOMIC = THREE_STEPS.replace("    dependencies", "    atomic = False\n    dependencies")


def test_non_atomic_migration_is_journaled_on_every_vendor(deployable):
    """B2: `atomic = False` commits step by step even with transactional DDL; a failure is undone exactly."""
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    before = schema_dump(vendor, server, name)
    project.migration("0002_three_steps", NON_ATOMIC)
    project.models(FIELDS)

    stopped = project.deploy("--fail-on", "never", "--on-failure", "stop")
    half = columns(vendor, server, name)
    refused = project.deploy("--fail-on", "never")
    rollback = project.run("rollback", "--no-backup")
    failed_again = project.deploy("--fail-on", "never")

    assert stopped.code == 4, stopped.out + stopped.err
    assert half == ["amount", "code", "id", "note", "number"]
    assert refused.code == 1 and "the database is dirty: shop.0002_three_steps failed after 2" in refused.out
    assert rollback.code == 0, rollback.out + rollback.err
    assert "Undoing 2 finished operation(s) of shop.0002_three_steps" in rollback.out
    assert failed_again.code == 3, failed_again.out + failed_again.err  # the default: undo what ran
    assert "Undoing the 2 operation(s) of shop.0002_three_steps" in failed_again.out
    assert schema_dump(vendor, server, name) == before
    assert ("shop", "0002_three_steps") not in applied(vendor, server, name)
