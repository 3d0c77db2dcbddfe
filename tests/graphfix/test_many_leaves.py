"""`pilot fix-conflicts` with three or more leaf migrations in one app: the branches go one after another."""

from __future__ import annotations

import os

from tests.graphfix.project import ALTER_AMOUNT, GraphProject
from tests.graphfix.test_fix_conflicts import assert_linear_and_migrates
from tests.pipeline.project import database_settings


def project_with_three_leaves(tmp_path, *, git: bool) -> GraphProject:
    """0002_note (main, oldest), 0002_paid, then 0002_due: three leaves on 0001_initial."""
    project = GraphProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))
    project.add_field("0002_note", "0001_initial", "note")
    if git:
        project.git("init", "-q", "-b", "main")
        project.commit("main: note")
    project.add_field("0002_paid", "0001_initial", "paid")
    project.add_field("0002_due", "0001_initial", "due")
    migrations = project.root / "shop" / "migrations"
    for seconds, name in ((1_000_000, "0002_note"), (2_000_000, "0002_paid"), (3_000_000, "0002_due")):
        os.utime(migrations / f"{name}.py", (seconds, seconds))
    project.fields("note", "paid", "due")
    return project


def test_moves_each_branch_after_the_one_before_with_git(tmp_path):
    project = project_with_three_leaves(tmp_path, git=True)

    result = project.run("fix-conflicts", "shop")

    assert result.code == 0, result.out + result.err
    assert ("shop: moving 2 migration(s) after 0002_note (the branch: 0002_paid, 0002_due are not on main)"
            in result.out)
    assert "  0002_paid -> 0003_paid\n  0002_due -> 0004_due\n" in result.out
    assert project.files() == ["0001_initial.py", "0002_note.py", "0003_paid.py", "0004_due.py"]
    assert 'dependencies = [("shop", "0002_note")]' in project.text("shop", "0003_paid")
    assert 'dependencies = [("shop", "0003_paid")]' in project.text("shop", "0004_due")
    assert_linear_and_migrates(project)


def test_without_git_the_oldest_files_are_the_main_line(tmp_path):
    project = project_with_three_leaves(tmp_path, git=False)

    result = project.run("fix-conflicts", "shop", "--dry-run")

    assert result.code == 0, result.out + result.err
    assert "after 0002_note (the branch: 0002_paid, 0002_due have later file times" in result.out
    assert "  0002_paid -> 0003_paid\n  0002_due -> 0004_due\n" in result.out
    assert project.files() == ["0001_initial.py", "0002_due.py", "0002_note.py", "0002_paid.py"]


def test_refuses_when_two_branches_change_the_same_field(tmp_path):
    project = project_with_three_leaves(tmp_path, git=False)
    project.migration("0003_amount_a", ALTER_AMOUNT.format(parent="0002_paid", default=1))
    project.migration("0003_amount_b", ALTER_AMOUNT.format(parent="0002_due", default=2))

    result = project.run("fix-conflicts", "shop")

    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "error: Cannot rebase shop: 0003_amount_b (branch) and 0003_amount_a (a branch moved before it) both"
        " change field invoice.amount, so their order decides the schema. Resolve it by hand, or run 'pilot"
        " fix-conflicts shop --merge' and check the result."]
    assert "0002_paid.py" in project.files()


def test_refuses_a_migration_two_branches_share_but_main_lacks(tmp_path):
    project = project_with_three_leaves(tmp_path, git=False)
    (project.root / "shop" / "migrations" / "0002_due.py").unlink()
    project.add_field("0003_due", "0002_paid", "due")
    project.migration("0003_amount", ALTER_AMOUNT.format(parent="0002_paid", default=1))

    result = project.run("fix-conflicts", "shop")

    assert result.code == 1
    assert "Cannot rebase shop: 0002_paid is on the branches of" in result.err
    assert "belongs to no one branch" in result.err and len(result.err.strip().splitlines()) == 1
    assert project.files() == ["0001_initial.py", "0002_note.py", "0002_paid.py", "0003_amount.py", "0003_due.py"]
