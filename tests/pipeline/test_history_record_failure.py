"""B6: the DDL is done but the history row cannot be written, on every database.

No mock: the migration itself creates a trigger that makes the server refuse the
INSERT into django_migrations, so the failure happens exactly between the
migration's DDL and its history row, as a crash or a lost connection there
would. On PostgreSQL and SQLite the row shares the DDL's transaction: both
vanish. MariaDB commits each DDL statement, so the journal (B1) knows how many
operations ran and the deploy undoes exactly those.
"""

from __future__ import annotations

from tests.pipeline.inspect_db import applied, query, schema_dump
from tests.pipeline.project import NOTE_FIELDS

REFUSE_HISTORY = {
    "postgresql": [
        "CREATE FUNCTION shop_refuse_history() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'history write refused'; END $$",
        "CREATE TRIGGER shop_refuse_history BEFORE INSERT ON django_migrations"
        " FOR EACH ROW EXECUTE FUNCTION shop_refuse_history()",
    ],
    "mysql": [
        "CREATE TRIGGER shop_refuse_history BEFORE INSERT ON django_migrations FOR EACH ROW"
        " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'history write refused'",
    ],
    "sqlite": [
        "CREATE TRIGGER shop_refuse_history BEFORE INSERT ON django_migrations"
        " BEGIN SELECT RAISE(ABORT, 'history write refused'); END",
    ],
}
DROP_REFUSAL = {
    "postgresql": ["DROP TRIGGER shop_refuse_history ON django_migrations", "DROP FUNCTION shop_refuse_history()"],
    "mysql": ["DROP TRIGGER shop_refuse_history"],
    "sqlite": ["DROP TRIGGER shop_refuse_history"],
}

# A real schema change, then the trigger: the INSERT Django records the migration with is refused.
NOTE_THEN_REFUSE = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True)),
        migrations.RunSQL({forward!r}, {reverse!r}),
    ]
'''


def _triggers(vendor, server, name):
    if vendor == "postgresql":
        sql = "SELECT tgname FROM pg_trigger WHERE tgname = 'shop_refuse_history'"
    elif vendor == "mysql":
        sql = "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    return query(vendor, server, name, sql)


def test_history_row_refused_after_the_ddl_leaves_neither(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    before = schema_dump(vendor, server, name)
    before_applied = applied(vendor, server, name)
    project.migration("0002_note", NOTE_THEN_REFUSE.format(forward=REFUSE_HISTORY[vendor],
                                                           reverse=DROP_REFUSAL[vendor]))
    project.models(NOTE_FIELDS)

    result = project.deploy()

    assert result.code == 3, result.out + result.err
    assert "history write refused" in result.out + result.err
    # Neither the DDL nor the row: the schema is what it was, and nothing claims 0002 ran.
    assert applied(vendor, server, name) == before_applied
    assert schema_dump(vendor, server, name) == before
    assert _triggers(vendor, server, name) == []
    last = project.history()[0]
    assert last["outcome"] == "rolled_back", last
    (row,) = [m for m in last["migrations"] if m["name"] == "0002_note"]
    assert "history write refused" in row["error"]
    if vendor == "mysql":
        # Each DDL had committed: the journal counted both operations and the deploy undid them.
        assert "Undoing the 2 operation(s) of shop.0002_note" in result.out
        assert row["outcome"] == "undone", row
    else:
        assert row["outcome"] == "failed", row
        assert "Undoing" not in result.out
    # Nothing dirty is left behind: the next deploy, with the file fixed, applies it once.
    project.migration("0002_note", NOTE_THEN_REFUSE.format(forward=[], reverse=[]))
    again = project.deploy()
    assert again.code == 0, again.out + again.err
    assert ("shop", "0002_note") in applied(vendor, server, name)
