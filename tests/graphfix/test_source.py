"""Byte-exact edits of migration files at the parser's spans."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration_pilot.graphfix import source

# As Django writes them: single quotes, one dependency per line; plus a non-ASCII comment before the edit.
GENERATED = """# Généré à la main — ünïcode before the span
from django.db import migrations


class Migration(migrations.Migration):

    replaces = [('shop', '0001_initial'), ('shop', '0002_note')]

    dependencies = [
        ('shop', '0002_note'),  # keep this comment
        ('auth', '0012_alter_user_first_name_max_length'),
    ]
    run_before = [["billing", "0001_initial"]]

    operations = []
""".encode()

PATH = Path("shop/migrations/0003_x.py")


def test_retarget_changes_only_the_pair_and_keeps_its_quotes():
    after = source.retarget(PATH, GENERATED, {("shop", "0002_note"): ("shop", "0004_note"),
                                              ("billing", "0001_initial"): ("billing", "0002_b")})

    assert after == GENERATED.replace(b"('shop', '0002_note'),  #", b"('shop', '0004_note'),  #").replace(
        b'["billing", "0001_initial"]', b'["billing", "0002_b"]')


def test_retarget_leaves_the_file_alone_when_nothing_matches():
    assert source.retarget(PATH, GENERATED, {("shop", "0009_other"): ("shop", "0010_other")}) is GENERATED


def test_remove_replaces_cuts_its_lines_only():
    after = source.remove_replaces(PATH, GENERATED)

    assert after == GENERATED.replace(b"    replaces = [('shop', '0001_initial'), ('shop', '0002_note')]\n", b"")


def test_literals_lists_dependencies_and_run_before():
    found = [(lit.attribute, lit.key) for lit in source.literals(PATH, GENERATED)]

    assert found == [("dependencies", ("shop", "0002_note")),
                     ("dependencies", ("auth", "0012_alter_user_first_name_max_length")),
                     ("run_before", ("billing", "0001_initial"))]


def test_a_file_without_a_migration_class_is_a_one_line_error():
    with pytest.raises(source.MigrationSourceError) as caught:
        source.literals(PATH, b"x = 1\n")

    assert str(caught.value) == (f"Cannot edit {PATH}: it has no module-level class Migration. Edit it by hand,"
                                 " then run the command again.")


def test_atomic_write_keeps_the_mode_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "0001_x.py"
    target.write_bytes(b"old")
    target.chmod(0o640)

    source.atomic_write(target, b"new")

    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["0001_x.py"]
