from tests.lint.helpers import lint_files

LEAF = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = []
'''


def conflicts(files, **kwargs):
    return [d for d in lint_files(files, **kwargs) if d.rule == "migration-conflict"]


def test_flags_two_leaves():
    (diagnostic,) = conflicts({"0002_a": LEAF, "0002_b": LEAF})

    assert (diagnostic.app, diagnostic.migration, diagnostic.operation) == ("testapp", "0002_b", None)
    assert diagnostic.path is not None and diagnostic.path.endswith("0002_b.py")


def test_allows_linear_history():
    assert conflicts({"0002_a": LEAF}) == []


def test_allows_merged_history():
    merge = LEAF.replace('[("testapp", "0001_initial")]', '[("testapp", "0002_a"), ("testapp", "0002_b")]')

    assert conflicts({"0002_a": LEAF, "0002_b": LEAF, "0003_merge": merge}) == []


def test_flags_on_every_database():
    for vendor in ("postgresql", "mysql", "sqlite"):
        assert len(conflicts({"0002_a": LEAF, "0002_b": LEAF}, vendor=vendor)) == 1


def test_message():
    (diagnostic,) = conflicts({"0002_a": LEAF, "0002_b": LEAF})

    assert diagnostic.message == (
        "App testapp has 2 leaf migrations (0002_a, 0002_b); migrate will refuse to run until"
        " they are merged."
    )
    assert diagnostic.hint.startswith("Move the branch's migrations after the main line's with"
                                      " 'python manage.py pilot fix-conflicts testapp'")
    assert diagnostic.hint.endswith("'python manage.py makemigrations --merge testapp'.")
