from django.db import migrations, models

from tests.lint.helpers import assert_allows, assert_flags, lint_one, migration_source

ADD_INDEX = migrations.AddIndex("invoice", models.Index(fields=["status"], name="invoice_status_idx"))


def with_comment(comment):
    return migration_source([ADD_INDEX]).replace(
        "        migrations.AddIndex(", f"        {comment}\n        migrations.AddIndex(")


def test_flags_unknown_rule():
    assert_flags("invalid-suppression", source=with_comment("# pilot: ignore add-idx -- small"))


def test_flags_missing_reason():
    assert_flags("invalid-suppression", source=with_comment("# pilot: ignore add-index-non-concurrent"))


def test_flags_no_rule():
    assert_flags("invalid-suppression", source=with_comment("# pilot: ignore -- because"))


def test_allows_well_formed_suppression():
    assert_allows("invalid-suppression",
                  source=with_comment("# pilot: ignore add-index-non-concurrent -- 40 rows"))


def test_applies_on_every_database():
    for vendor in ("postgresql", "mysql", "sqlite"):
        assert_flags("invalid-suppression", source=with_comment("# pilot: ignore nope -- x"), vendor=vendor)


def test_cannot_suppress_itself():
    source = with_comment("# pilot: ignore invalid-suppression\n        # pilot: ignore nope -- x")

    assert len(lint_one("invalid-suppression", source=source)) == 2


def test_message():
    (diagnostic,) = lint_one("invalid-suppression", source=with_comment("# pilot: ignore add-idx -- small"))

    assert diagnostic.message == "Suppression comment names unknown rule 'add-idx', so it silences nothing."
    assert diagnostic.line is not None
