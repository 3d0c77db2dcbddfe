"""Idioms of real migrations static lint answers without importing anything (wagtail, oscar).

Each is written to a temporary file and parsed; none of the imports named
(`swapper`, `wagtail`) is ever imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import migrations, models

from migration_pilot.lint.static.discover import discover_apps
from migration_pilot.lint.static.parse import parse_migration
from migration_pilot.lint.static.placeholders import UnknownField

VENDOR_BRANCH = '''
from django.db import connection, migrations, models


class Migration(migrations.Migration):
    dependencies = []

    if connection.vendor == "postgresql":
        import django.contrib.postgres.search

        operations = [
            migrations.AddField("entry", "body", django.contrib.postgres.search.SearchVectorField()),
        ]
    else:
        operations = [migrations.AddField("entry", "body", models.TextField())]
'''

IDIOMS = '''
import swapper
import wagtail.fields
from django.conf import settings
from django.db import migrations, models
from django.utils.module_loading import import_string

models_AutoField = import_string(settings.DEFAULT_AUTO_FIELD)


class Migration(migrations.Migration):
    dependencies = [swapper.dependency("wagtailcore", "Page")]

    state_operations = [
        migrations.CreateModel(
            name="Promo",
            fields=[
                ("id", models_AutoField(primary_key=True)),
                ("page", models.ForeignKey(on_delete=models.CASCADE,
                                           to=swapper.get_model_name("wagtailcore", "Page"))),
                ("body", wagtail.fields.StreamField([("text", wagtail.blocks.CharBlock())])),
            ],
            options={"unique_together": set([("page", "id")])},
        ),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=state_operations)]
'''


def _parse(tmp_path: Path, text: str, vendor: str = "postgresql") -> migrations.Migration:
    path = tmp_path / "0001_x.py"
    path.write_text(text)
    return parse_migration(path, app_label="x", module="x.migrations.0001_x",
                           auth_user_model="auth.User", vendor=vendor)


@pytest.mark.parametrize(("vendor", "field_class"), [("postgresql", "SearchVectorField"),
                                                     ("sqlite", "TextField")])
def test_class_body_vendor_branch_follows_the_linted_vendor(tmp_path, vendor, field_class):
    (operation,) = _parse(tmp_path, VENDOR_BRANCH, vendor).operations

    assert type(operation.field).__name__ == field_class


def test_swapper_import_string_class_level_names_and_unknown_fields(tmp_path):
    migration = _parse(tmp_path, IDIOMS)

    assert migration.dependencies == [("wagtailcore", "__first__")]
    (separate,) = migration.operations
    (create,) = separate.state_operations
    fields = dict(create.fields)
    assert type(fields["id"]) is models.AutoField
    assert fields["page"].remote_field.model == "wagtailcore.Page"
    assert isinstance(fields["body"], UnknownField)
    assert type(fields["body"]).unknown_path == "wagtail.fields.StreamField"
    assert create.options["unique_together"] == {("page", "id")}


def test_app_label_from_an_apps_py_config_subclass(tmp_path):
    app = tmp_path / "shop" / "address"
    (app / "migrations").mkdir(parents=True)
    (app / "migrations" / "__init__.py").write_text("")
    (app / "migrations" / "0001_initial.py").write_text(
        "from django.db import migrations\n\nclass Migration(migrations.Migration):\n    pass\n")
    (app / "apps.py").write_text(
        "from shop.config import ShopConfig\n\n"
        "class AddressConfig(ShopConfig):\n    label = 'shop_address'\n    name = 'shop.address'\n")
    (tmp_path / "shop" / "blocks" / "migrations").mkdir(parents=True)
    (tmp_path / "shop" / "blocks" / "migrations" / "__init__.py").write_text("")
    (tmp_path / "shop" / "blocks" / "migrations" / "utils.py").write_text("def migrate(): pass\n")

    (found,) = discover_apps([tmp_path])

    assert found.label == "shop_address"  # and shop/blocks/migrations, with no Migration class, is no app
