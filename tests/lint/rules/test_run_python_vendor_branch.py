from tests.lint.helpers import assert_allows, assert_flags, lint_one

RULE = "run-python-vendor-branch"
BRANCHING = '''from django.db import migrations


def fill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("UPDATE testapp_order SET note = '-' WHERE note = ''")
    else:
        Order = apps.get_model("testapp", "Order")
        Order.objects.filter(note="").update(note="-")


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
'''
PLAIN = BRANCHING.replace('schema_editor.connection.vendor == "postgresql"', "False")


def test_flags_vendor_branch_linted_for_another_vendor_than_the_settings():
    # tests.settings uses SQLite; --vendor postgresql judges the other branch.
    assert_flags(RULE, source=BRANCHING, vendor="postgresql")


def test_allows_vendor_branch_linted_for_the_settings_vendor():
    assert_allows(RULE, source=BRANCHING, vendor="sqlite")


def test_allows_code_that_does_not_branch_on_the_vendor():
    assert_allows(RULE, source=PLAIN, vendor="postgresql")


def test_flags_on_every_database_but_the_settings_one():
    assert_flags(RULE, source=BRANCHING, vendor="mysql")


def test_message():
    (diagnostic,) = lint_one(RULE, source=BRANCHING, vendor="postgresql")

    assert diagnostic.message == (
        "RunPython fill in testapp.0002_change branches on the database vendor; this lint judged"
        " it for postgresql (--vendor), but the settings' database is sqlite, where it may take"
        " another path."
    )
    assert diagnostic.hint == (
        "Lint with the settings of the database you deploy to, once per vendor the project"
        " targets (without --vendor, or with --vendor sqlite)."
    )


def test_ignore_comment_suppresses():
    source = BRANCHING.replace(
        "    operations = [migrations.RunPython(",
        "    operations = [\n        # pilot: ignore run-python-vendor-branch -- both branches reviewed\n"
        "        migrations.RunPython(",
    ).replace("migrations.RunPython.noop)]", "migrations.RunPython.noop),\n    ]")

    assert_allows(RULE, source=source, vendor="postgresql")


PICKS_AT_LOAD = '''from django.db import connection, migrations


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    if connection.vendor == "postgresql":
        operations = [migrations.RunSQL("CREATE INDEX CONCURRENTLY x ON testapp_order (note)")]
    else:
        operations = [migrations.RunSQL("CREATE INDEX x ON testapp_order (note)")]
'''


def test_flags_migration_that_picks_operations_by_vendor_when_loaded():
    (diagnostic,) = lint_one(RULE, source=PICKS_AT_LOAD, vendor="postgresql")

    assert diagnostic.message == (
        "Migration testapp.0002_change picks its operations by the database vendor when it is"
        " loaded: lint loaded those for sqlite (the settings' default database) and judged them"
        " for postgresql."
    )


def test_allows_migration_that_picks_operations_for_the_settings_vendor():
    assert_allows(RULE, source=PICKS_AT_LOAD, vendor="sqlite")
