from tests.lint.helpers import assert_allows, assert_flags, lint_one

RULE = "run-python-irreversible"


def migration(operation, *, extra=""):
    return f'''from django.db import migrations
from django.db.models import F


def forwards(apps, schema_editor):
    Order = apps.get_model("testapp", "Order")
    Order.objects.filter(status="new").update(total=F("total") + 1)


def backwards(apps, schema_editor):
    Order = apps.get_model("testapp", "Order")
    Order.objects.filter(status="new").update(total=F("total") - 1)
{extra}

class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = [{operation}]
'''


def test_flags_run_python_without_reverse():
    assert_flags(RULE, source=migration("migrations.RunPython(forwards)"))


def test_allows_noop_reverse():
    assert_allows(RULE, source=migration("migrations.RunPython(forwards, migrations.RunPython.noop)"))


def test_allows_reverse_function():
    assert_allows(RULE, source=migration("migrations.RunPython(forwards, reverse_code=backwards)"))


def test_flags_noop_forward_without_reverse():
    (diagnostic,) = lint_one(RULE, source=migration("migrations.RunPython(migrations.RunPython.noop)"))

    assert diagnostic.message.startswith("RunPython noop in testapp.0002_change has no reverse_code")
    assert diagnostic.safe_alternative is None


def test_flags_lambda_without_source():
    (diagnostic,) = lint_one(RULE, source=migration("migrations.RunPython(lambda apps, editor: None)"))

    assert "RunPython <lambda> in testapp.0002_change" in diagnostic.message
    assert diagnostic.safe_alternative is None


def test_allows_run_sql():
    assert_allows(RULE, source=migration('migrations.RunSQL("SELECT 1")'))


def test_flags_on_every_vendor():
    for vendor in ("postgresql", "mysql", "sqlite"):
        assert_flags(RULE, source=migration("migrations.RunPython(forwards)"), vendor=vendor)


def test_message():
    (diagnostic,) = lint_one(RULE, source=migration("migrations.RunPython(forwards)"))

    assert diagnostic.message == (
        "RunPython forwards in testapp.0002_change has no reverse_code, so the migration"
        " cannot be unapplied and a rollback stops there."
    )
    assert diagnostic.hint == (
        "Add reverse_code: a function that undoes the change, or migrations.RunPython.noop"
        " when nothing needs undoing."
    )
    assert diagnostic.lock is None


def test_safe_alternative_keeps_the_function_and_adds_a_noop_reverse():
    helper = "\n\nLIMIT = 10\n\n\ndef unused(apps, schema_editor):\n    return None\n"
    source = migration("migrations.RunPython(forwards)", extra=helper)

    (diagnostic,) = lint_one(RULE, source=source)

    assert diagnostic.safe_alternative == '''from django.db.models import F
from django.db import migrations


def forwards(apps, schema_editor):
    Order = apps.get_model("testapp", "Order")
    Order.objects.filter(status="new").update(total=F("total") + 1)


class Migration(migrations.Migration):
    dependencies = [('testapp', '0001_initial')]
    operations = [
        migrations.RunPython(forwards, reverse_code=migrations.RunPython.noop),
    ]
'''


def test_safe_alternative_is_not_flagged():
    (diagnostic,) = lint_one(RULE, source=migration("migrations.RunPython(forwards)"))

    assert_allows(RULE, source=diagnostic.safe_alternative)


def test_safe_alternative_copies_helpers_and_constants_the_function_uses():
    source = '''from django.db import migrations

PENDING = "pending"


def target(order):
    return PENDING


def forwards(apps, schema_editor):
    Order = apps.get_model("testapp", "Order")
    for order in Order.objects.filter(status="new"):
        order.status = target(order)
        order.save(update_fields=["status"])


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    atomic = False
    operations = [migrations.RunPython(forwards, atomic=True)]
'''
    (diagnostic,) = lint_one(RULE, source=source)

    alternative = diagnostic.safe_alternative
    assert 'PENDING = "pending"' in alternative
    assert "def target(order):" in alternative
    assert "atomic = False" in alternative
    assert "migrations.RunPython(forwards, reverse_code=migrations.RunPython.noop, atomic=True)" in alternative
    assert_allows(RULE, source=alternative)


def test_ignore_comment_suppresses():
    source = migration(
        "\n        # pilot: ignore run-python-irreversible -- one-off cleanup, restore from backup\n"
        "        migrations.RunPython(forwards)"
    )

    assert_allows(RULE, source=source)
