"""run-python-model-import: a model fetched through an app loader when the migration module is imported."""

from tests.lint.helpers import assert_allows, assert_flags

RULE = "run-python-model-import"


def migration(top, body):
    return f'''from django.apps import apps as registry
from django.db import migrations
{top}

def forwards(apps, schema_editor):
{body}


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
'''


LOOP = '''    Historical = apps.get_model("testapp", "Order")
    for order in Historical.objects.all():
        current = CurrentOrder.objects.get(pk=order.pk)
        order.status = current.status.upper()
        order.save()'''


def test_flags_loader_get_model_at_import_time():
    finding = assert_flags(RULE, source=migration('CurrentOrder = registry.get_model("testapp", "Order")\n', LOOP))

    assert "CurrentOrder" in finding.message or "Order" in finding.message
    assert "at import time" in finding.message
    assert 'apps.get_model("testapp", "Order")' in finding.hint


def test_flags_a_loader_named_get_model_with_a_dotted_label():
    top = 'from django.apps.registry import apps as loader\nCurrentOrder = loader.get_model("testapp.Order")\n'

    finding = assert_flags(RULE, source=migration(top, LOOP))

    assert "at import time" in finding.message


def test_no_rewritten_migration_for_a_loader_model():
    # The function calls the current model; a mechanical rewrite to the historical model would change it.
    finding = assert_flags(RULE, source=migration('CurrentOrder = registry.get_model("testapp", "Order")\n', LOOP))

    assert finding.safe_alternative is None


def test_allows_a_loader_model_the_functions_never_use():
    body = '    apps.get_model("testapp", "Order").objects.filter(status="new").update(status="pending")'

    assert_allows(RULE, source=migration('CurrentOrder = registry.get_model("testapp", "Order")\n', body))


def test_allows_get_model_on_the_apps_argument_inside_the_function():
    body = '    Order = apps.get_model("testapp", "Order")\n    Order.objects.filter(status="new").update(status="pending")'

    assert_allows(RULE, source=migration("", body))


def test_a_local_name_shadowing_the_loader_model_is_not_flagged():
    body = '    CurrentOrder = apps.get_model("testapp", "Order")\n    CurrentOrder.objects.update(status="x")'

    assert_allows(RULE, source=migration('CurrentOrder = registry.get_model("testapp", "Order")\n', body))
