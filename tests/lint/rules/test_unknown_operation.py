from tests.lint.helpers import assert_allows, assert_flags, lint_one

CUSTOM = '''
from django.db import migrations, models


class AddIndexQuietly(migrations.AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        pass


class RenamedAddIndex(migrations.AddIndex):
    """A subclass that keeps AddIndex's database behaviour."""


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = [
        %s
    ]
'''

INDEX = 'models.Index(fields=["status"], name="invoice_status_idx")'


def test_flags_subclass_with_its_own_database_forwards():
    assert_flags("unknown-operation", source=CUSTOM % f'AddIndexQuietly("invoice", {INDEX}),')


def test_subclass_with_own_database_forwards_is_not_judged_as_its_base():
    assert_allows("add-index-non-concurrent", source=CUSTOM % f'AddIndexQuietly("invoice", {INDEX}),')


def test_subclass_keeping_database_forwards_is_judged_as_its_base():
    source = CUSTOM % f'RenamedAddIndex("invoice", {INDEX}),'

    assert_allows("unknown-operation", source=source)
    assert_flags("add-index-non-concurrent", source=source)


def test_applies_on_every_database():
    for vendor in ("postgresql", "mysql", "sqlite"):
        assert_flags("unknown-operation", source=CUSTOM % f'AddIndexQuietly("invoice", {INDEX}),',
                     vendor=vendor)


def test_message():
    (diagnostic,) = lint_one("unknown-operation", source=CUSTOM % f'AddIndexQuietly("invoice", {INDEX}),')

    assert diagnostic.message == (
        "AddIndexQuietly is not a Django operation migration_pilot knows, so its database"
        " effect was not checked."
    )
    assert diagnostic.severity.label == "info"


def test_ignore_comment_suppresses():
    source = CUSTOM % (
        "# pilot: ignore unknown-operation -- reviewed, it does nothing\n"
        f'        AddIndexQuietly("invoice", {INDEX}),'
    )

    assert_allows("unknown-operation", source=source)
