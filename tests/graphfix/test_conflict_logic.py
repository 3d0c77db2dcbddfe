"""Pure logic of fix-conflicts: which fields each side touches, new names, conflict markers."""

from __future__ import annotations

from django.db import migrations, models

from migration_pilot.graphfix.branch import conflict_marker_sides, number
from migration_pilot.graphfix.conflicts import _clash, _new_name, touched


def test_same_field_changed_on_both_sides_clashes():
    mine = touched([migrations.AlterField("invoice", "amount", models.IntegerField(default=1))], "shop")
    theirs = touched([migrations.RemoveField("invoice", "amount")], "shop")

    assert _clash(mine, theirs) == ("invoice", "amount")


def test_rename_touches_both_names():
    assert touched([migrations.RenameField("invoice", "total", "amount")], "shop") == {
        ("invoice", "total"), ("invoice", "amount")}


def test_deleting_a_model_clashes_with_any_change_to_it():
    mine = touched([migrations.AddField("invoice", "due", models.DateField(null=True))], "shop")
    theirs = touched([migrations.DeleteModel("Invoice")], "shop")

    assert _clash(mine, theirs) == ("invoice", "due")
    assert _clash(theirs, mine) == ("invoice", "*")


def test_different_fields_do_not_clash():
    mine = touched([migrations.AddField("invoice", "due", models.DateField(null=True))], "shop")
    theirs = touched([migrations.AddField("invoice", "note", models.TextField(null=True))], "shop")

    assert _clash(mine, theirs) is None


def test_fields_inside_separate_database_and_state_count():
    operation = migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField("invoice", "note")])

    assert touched([operation], "shop") == {("invoice", "note")}


def test_new_names_keep_the_rest_and_the_width():
    assert _new_name("0002_paid", 4) == "0004_paid"
    assert _new_name("00002_paid", 4) == "00004_paid"
    assert _new_name("auto_paid", 7) == "0007_auto_paid"
    assert number("0012_x") == 12 and number("initial") is None


def test_conflict_markers_give_the_merged_side_first(tmp_path):
    path = tmp_path / "max_migration.txt"
    path.write_text("<<<<<<< HEAD\n0002_note\n=======\n0003_due\n>>>>>>> feature\n")

    assert conflict_marker_sides(path) == ("0002_note", "0003_due")


def test_a_plain_max_file_has_no_sides(tmp_path):
    path = tmp_path / "max_migration.txt"
    path.write_text("0002_note\n")

    assert conflict_marker_sides(path) is None
