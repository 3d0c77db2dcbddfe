from django.db import migrations, models

from tests.lint.helpers import assert_allows, assert_flags, lint_one

RULE = "auto-generated-name"
OPS = [migrations.AddField("order", "tag", models.CharField(max_length=5, null=True))]


def test_flags_django_auto_name():
    assert_flags(RULE, OPS, name="0002_auto_20250519_1502")


def test_allows_descriptive_names():
    for name in ("0002_order_tag", "0002_order_autoship", "0002_auto_tag", "0002_squashed_0004_auto"):
        assert_allows(RULE, OPS, name=name)


def test_flags_on_every_vendor():
    for vendor in ("postgresql", "mysql", "sqlite"):
        assert_flags(RULE, OPS, name="0002_auto_20250519_1502", vendor=vendor)


def test_message():
    (diagnostic,) = lint_one(RULE, OPS, name="0002_auto_20250519_1502")

    assert diagnostic.message == (
        "Migration testapp.0002_auto_20250519_1502 has the name Django gives when it cannot"
        " describe the change, so its name says nothing about what it does."
    )
    assert diagnostic.hint == (
        "Rename it with a descriptive name (makemigrations --name) before it is applied"
        " anywhere, and update later migrations that depend on it."
    )
    assert diagnostic.severity.name == "INFO"
    assert diagnostic.lock is None
    assert diagnostic.operation is None
    assert diagnostic.safe_alternative.startswith(
        "1. Rename 0002_auto_20250519_1502.py to 0002_<what_it_does>.py")


def test_ignore_file_comment_suppresses():
    from tests.lint.helpers import migration_source

    source = "# pilot: ignore-file auto-generated-name -- applied in production already\n" + (
        migration_source(OPS, name="0002_auto_20250519_1502"))

    assert_allows(RULE, source=source, name="0002_auto_20250519_1502")
