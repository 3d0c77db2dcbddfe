from tests.lint.helpers import assert_allows, assert_flags, lint_one

RULE = "run-python-model-import"


def migration(body, *, top="", reverse="migrations.RunPython.noop"):
    return f'''from django.db import migrations, models
{top}

def forwards(apps, schema_editor):
{body}


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = [migrations.RunPython(forwards, {reverse})]
'''


LOCAL_IMPORT = '''    from tests.testapp.models import Order
    Order.objects.filter(status="new").update(status="pending")'''


def test_flags_import_inside_the_function():
    assert_flags(RULE, source=migration(LOCAL_IMPORT))


def test_flags_model_imported_at_module_top():
    body = '    Order.objects.filter(status="new").update(status="pending")'

    assert_flags(RULE, source=migration(body, top="from tests.testapp.models import Order\n"))


def test_flags_module_import_used_through_its_dotted_path():
    body = '    tests.testapp.models.Order.objects.filter(status="new").update(status="pending")'

    assert_flags(RULE, source=migration(body, top="import tests.testapp.models\n"))


def test_flags_models_module_imported_by_name():
    body = '    shop_models.Customer.objects.filter(name="").delete()'

    assert_flags(RULE, source=migration(body, top="from tests.testapp import models as shop_models\n"))


def test_flags_relative_import():
    body = '    from ..models import Invoice\n    Invoice.objects.filter(status=None).update(status="draft")'
    # The scenario package is not inside the app, so the relative import resolves elsewhere;
    # it still names a models module.
    assert_flags(RULE, source=migration(body))


def test_flags_use_in_a_helper_of_the_same_file():
    top = '''from tests.testapp.models import Order


def pending():
    return Order.objects.filter(status="new")
'''
    body = '    pending().update(status="pending")'

    (diagnostic,) = lint_one(RULE, source=migration(body, top=top))

    assert "uses the current model Order" in diagnostic.message
    assert diagnostic.safe_alternative is None


def test_flags_reverse_function_too():
    top = '''

def backwards(apps, schema_editor):
    from tests.testapp.models import Order
    Order.objects.filter(status="pending").update(status="new")
'''
    body = '    Order = apps.get_model("testapp", "Order")\n    Order.objects.update(status="pending")'

    (diagnostic,) = lint_one(RULE, source=migration(body, top=top, reverse="backwards"))

    assert diagnostic.message.startswith("RunPython backwards in testapp.0002_change")


def test_allows_apps_get_model():
    body = '    Order = apps.get_model("testapp", "Order")\n    Order.objects.filter(status="new").update(status="pending")'

    assert_allows(RULE, source=migration(body))


def test_allows_django_db_models_imports():
    top = "from django.db.models import F, Q\nfrom django.db.models.functions import Upper\n"
    body = ('    Order = apps.get_model("testapp", "Order")\n'
            '    Order.objects.filter(Q(status="new")).update(note=Upper(F("status")))\n'
            "    models.Value(1)")

    assert_allows(RULE, source=migration(body, top=top))


def test_allows_module_import_that_only_operations_use():
    source = '''from django.db import migrations, models
import tests.testapp.models


def forwards(apps, schema_editor):
    Order = apps.get_model("testapp", "Order")
    Order.objects.filter(status="new").update(status="pending")


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = [
        migrations.AddField("order", "tag", models.CharField(max_length=5, null=True)),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
'''
    assert_allows(RULE, source=source)


def test_allows_model_name_shadowed_by_get_model():
    body = '    Order = apps.get_model("testapp", "Order")\n    Order.objects.filter(status="new").update(status="pending")'

    assert_allows(RULE, source=migration(body, top="from tests.testapp.models import Order\n"))


def test_allows_non_model_names_from_a_loaded_models_module():
    body = '    Order = apps.get_model("testapp", "Order")\n    Order.objects.filter(note="").update(note=models.Value("-"))\n    return models_module.__name__'
    top = "from tests.testapp import models as models_module\nfrom tests.testapp.models import models as dj\n"

    assert_allows(RULE, source=migration(body.replace("models_module.__name__", "dj.CASCADE"), top=top))


def test_allows_lambda_it_cannot_read():
    source = migration("    pass").replace("migrations.RunPython(forwards,", "migrations.RunPython(lambda a, b: None,")

    assert_allows(RULE, source=source)


def test_flags_on_every_vendor():
    for vendor in ("postgresql", "mysql", "sqlite"):
        assert_flags(RULE, source=migration(LOCAL_IMPORT), vendor=vendor)


def test_message():
    (diagnostic,) = lint_one(RULE, source=migration(LOCAL_IMPORT))

    assert diagnostic.message == (
        "RunPython forwards in testapp.0002_change uses the current model Order from"
        " tests.testapp.models instead of apps.get_model(), so it follows today's models.py,"
        " not the schema this migration runs against."
    )
    assert diagnostic.hint == (
        'Get the historical model inside the function: Order = apps.get_model("testapp", "Order").'
    )
    assert diagnostic.lock is None


def test_safe_alternative_replaces_the_import_with_get_model():
    (diagnostic,) = lint_one(RULE, source=migration(LOCAL_IMPORT))

    assert diagnostic.safe_alternative == '''from django.db import migrations, models


def forwards(apps, schema_editor):
    Order = apps.get_model("testapp", "Order")
    Order.objects.filter(status="new").update(status="pending")


class Migration(migrations.Migration):
    dependencies = [('testapp', '0001_initial')]
    operations = [
        migrations.RunPython(forwards, reverse_code=migrations.RunPython.noop),
    ]
'''


def test_safe_alternative_for_module_level_imports_and_dotted_paths():
    top = "import tests.testapp.models\nfrom tests.testapp.models import Customer as Client\n"
    body = ('    """Move notes."""\n'
            '    for order in tests.testapp.models.Order.objects.filter(note=""):\n'
            "        order.note = Client.objects.get(pk=order.customer_id).name\n"
            '        order.save(update_fields=["note"])')

    (diagnostic,) = lint_one(RULE, source=migration(body, top=top))

    assert "uses the current models Customer, Order from tests.testapp.models" in diagnostic.message
    alternative = diagnostic.safe_alternative
    assert '''def forwards(apps, schema_editor):
    """Move notes."""
    Order = apps.get_model("testapp", "Order")
    Client = apps.get_model("testapp", "Customer")
    for order in Order.objects.filter(note=""):
        order.note = Client.objects.get(pk=order.customer_id).name
''' in alternative
    assert "import tests.testapp.models" not in alternative
    assert "from tests.testapp.models import Customer" not in alternative
    assert_allows(RULE, source=alternative)


def test_safe_alternative_is_not_flagged():
    (diagnostic,) = lint_one(RULE, source=migration(LOCAL_IMPORT))

    assert_allows(RULE, source=diagnostic.safe_alternative)


def test_no_fix_when_the_function_uses_a_method_the_historical_model_lacks():
    """Found on wagtail 0059: Collection.fix_tree() exists on the class, not on apps.get_model()'s model."""
    body = "    Order.recalculate_totals(fix_paths=True)"
    diagnostic = assert_flags(RULE, source=migration(body, top="from tests.testapp.models import Order\n"))

    assert diagnostic.safe_alternative is None


def test_fix_kept_when_the_function_uses_managers_and_fields_only():
    body = '    Order.objects.filter(status="new").update(status=Order.status.field.default)'
    diagnostic = assert_flags(RULE, source=migration(body, top="from tests.testapp.models import Order\n"))

    assert 'Order = apps.get_model("testapp", "Order")' in (diagnostic.safe_alternative or "")
