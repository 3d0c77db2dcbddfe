from django.db import migrations, models

from tests.lint.helpers import lint_files, migration_source


def missing(files, **kwargs):
    return [d for d in lint_files(files, **kwargs) if d.rule == "missing-migration"]


def test_allows_models_matching_migrations():
    assert missing({}) == []


def test_flags_field_the_migrations_lack():
    remove = migrations.RemoveField("order", "quantity")

    (diagnostic,) = missing({"0002_change": migration_source([remove])})

    assert diagnostic.migration is None
    assert diagnostic.message == "Models in testapp have changes no migration contains: Add field quantity to order."


def test_flags_on_every_database():
    source = migration_source([migrations.AlterField("order", "status", models.CharField(max_length=99))])

    for vendor in ("postgresql", "mysql", "sqlite"):
        assert len(missing({"0002_change": source}, vendor=vendor)) == 1


def test_rename_the_autodetector_would_ask_about_is_reported_not_crashed():
    # makemigrations would ask "Was order.customer renamed to buyer?"; lint must answer with a finding.
    rename = migrations.RenameField("order", "customer", "buyer")

    (diagnostic,) = missing({"0002_change": migration_source([rename])})

    assert "customer" in diagnostic.message and "order" in diagnostic.message
