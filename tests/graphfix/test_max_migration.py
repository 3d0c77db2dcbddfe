"""`pilot max-migration write|check`, and fix-conflicts repairing the file git left conflicted."""

from __future__ import annotations

from tests.graphfix.project import GraphProject, two_branches
from tests.pipeline.project import database_settings


def project_at(tmp_path) -> GraphProject:
    return GraphProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))


def max_file(project: GraphProject) -> str:
    return (project.root / "shop" / "migrations" / "max_migration.txt").read_text()


def test_write_names_the_latest_migration_and_check_passes(tmp_path):
    project = project_at(tmp_path)
    project.add_field("0002_note", "0001_initial", "note")

    written = project.run("max-migration", "write")
    checked = project.run("max-migration", "check")

    assert written.code == 0, written.err
    assert written.out == f"shop: wrote {project.root / 'shop' / 'migrations' / 'max_migration.txt'}: 0002_note\n"
    assert max_file(project) == "0002_note\n"
    assert (checked.code, checked.out) == (0, "Every max_migration.txt names its app's latest migration.\n")


def test_check_fails_when_missing(tmp_path):
    project = project_at(tmp_path)

    result = project.run("max-migration", "check")

    assert result.code == 1
    assert "max_migration.txt is missing; run 'pilot max-migration write shop'." in result.out


def test_check_fails_when_stale(tmp_path):
    project = project_at(tmp_path)
    assert project.run("max-migration", "write").code == 0
    project.add_field("0002_note", "0001_initial", "note")

    result = project.run("max-migration", "check")

    assert result.code == 1
    assert "names 0001_initial, but the latest migration of shop is 0002_note" in result.out


def test_write_dry_run_writes_nothing(tmp_path):
    project = project_at(tmp_path)

    result = project.run("max-migration", "write", "--dry-run")

    assert result.code == 0 and "would write" in result.out
    assert not (project.root / "shop" / "migrations" / "max_migration.txt").exists()


def test_git_conflict_in_the_file_then_fix_conflicts_repairs_it(tmp_path):
    project = project_at(tmp_path)
    assert project.run("max-migration", "write").code == 0
    original_add_field = project.add_field

    def add_and_record(name: str, parent: str, field: str) -> None:
        original_add_field(name, parent, field)
        (project.root / "shop" / "migrations" / "max_migration.txt").write_text(name + "\n")

    project.add_field = add_and_record  # each branch records its latest migration, as the tool would
    two_branches(project)
    assert "<<<<<<<" in max_file(project)  # git refused the merge: the conflict is visible before deploying

    conflicted = project.run("max-migration", "check")
    fixed = project.run("fix-conflicts")

    assert conflicted.code == 1 and "2 leaf migrations (0002_note, 0003_due)" in conflicted.out
    assert fixed.code == 0, fixed.err
    assert "0002_paid -> 0003_paid" in fixed.out
    assert max_file(project) == "0004_due\n"
    assert project.run("max-migration", "check").code == 0
    assert project.django("migrate", "--noinput").code == 0


def test_several_leaves_fail_write(tmp_path):
    project = project_at(tmp_path)
    project.add_field("0002_note", "0001_initial", "note")
    project.add_field("0002_paid", "0001_initial", "paid")

    result = project.run("max-migration", "write")

    assert result.code == 1
    assert result.out == ("shop: shop has 2 leaf migrations (0002_note, 0002_paid); run 'pilot fix-conflicts shop'"
                          " first.\n")
