"""unbatched-backfill: the loop lives in a method of a RunPython subclass written in the migration file."""

import pytest

from tests.lint.helpers import assert_allows, assert_flags

RULE = "unbatched-backfill"

SUBCLASS = '''from django.db import migrations


class UppercaseStatuses(migrations.RunPython):
    def __init__(self):
        super().__init__(self.{method}, migrations.RunPython.noop)

    {decorator}
    def {method}({args}):
        Order = apps.get_model("testapp", "Order")
        for order in Order.objects.{queryset}:
            order.status = order.status.upper()
            order.save()


class Migration(migrations.Migration):
{atomic}    dependencies = [("testapp", "0001_initial")]
    operations = [UppercaseStatuses()]
'''


def source(*, static=True, queryset="all()", atomic=True):
    return SUBCLASS.format(method="forwards", decorator="@staticmethod" if static else "",
                           args="apps, schema_editor" if static else "self, apps, schema_editor",
                           queryset=queryset, atomic="" if atomic else "    atomic = False\n")


@pytest.mark.parametrize("static", [True, False], ids=["staticmethod", "method"])
def test_flags_save_loop_in_a_run_python_subclass(static):
    finding = assert_flags(RULE, source=source(static=static))

    assert "saves every row of testapp_order in a single transaction" in finding.message
    assert finding.safe_alternative is None


def test_allows_filtered_loop_in_a_subclass():
    assert_allows(RULE, source=source(queryset='filter(status="new")[:100]'))


def test_allows_the_loop_in_a_non_atomic_migration():
    assert_allows(RULE, source=source(atomic=False))
