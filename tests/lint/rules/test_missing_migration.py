import io

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import migrations, models
from django.test import override_settings
from django.utils import translation

from migration_pilot.conf import Config
from migration_pilot.lint import lint
from tests.lint.helpers import lint_files, migration_source


def missing(files, **kwargs):
    return [d for d in lint_files(files, **kwargs) if d.rule == "missing-migration"]


def test_allows_models_matching_migrations():
    assert missing({}) == []


def test_flags_field_the_migrations_lack():
    remove = migrations.RemoveField("order", "quantity")

    (diagnostic,) = missing({"0002_change": migration_source([remove])})

    assert (diagnostic.app, diagnostic.migration) == ("testapp", None)
    assert diagnostic.to_json()["app"] == "testapp"
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


# Translated verbose names and choices ------------------------------------------------------


def _makemigrations_check(label):
    """What `makemigrations --check --dry-run <label>` reports: (changes found, its output)."""
    out = io.StringIO()
    try:
        call_command("makemigrations", label, check=True, dry_run=True, stdout=out, verbosity=1)
    except SystemExit as exit_:
        return exit_.code == 1, out.getvalue()
    return False, out.getvalue()


def _with_app(kind):
    """German active while the app's models are imported (eager gettext runs then)."""
    settings = override_settings(LANGUAGE_CODE="de", USE_I18N=True)
    apps = override_settings(INSTALLED_APPS=[*django_settings.INSTALLED_APPS, f"tests.lint.i18n.{kind}"])
    return settings, apps


@pytest.mark.parametrize(("kind", "changed"), [("lazy", False), ("eager", True)])
def test_reports_exactly_what_makemigrations_check_reports_with_translations_active(db, kind, changed):
    label = f"pilot_i18n_{kind}"
    language, installed = _with_app(kind)
    with language, installed, translation.override("de"):
        expected, output = _makemigrations_check(label)
        found = [d for d in lint([label], config=Config(), vendor="postgresql").diagnostics
                 if d.rule == "missing-migration"]

    assert expected is changed, output
    assert bool(found) is expected
    assert [d.app for d in found] == ([label] if changed else [])


def test_validate_stage_agrees_with_makemigrations_with_translations_active():
    from django.db.migrations.executor import MigrationExecutor

    from migration_pilot.pipeline.validate import missing_migrations

    language, installed = _with_app("lazy")
    with language, installed, translation.override("de"):
        assert missing_migrations(MigrationExecutor(None)) == ""


def test_verify_agrees_with_makemigrations_with_translations_active():
    from django.db.migrations.loader import MigrationLoader

    from migration_pilot.drift.models_vs_migrations import model_differences

    language, installed = _with_app("lazy")
    with language, installed, translation.override("de"):
        assert model_differences(MigrationLoader(None, ignore_no_migrations=True)) == []
