"""`pilot fix-conflicts`: a real two-branch conflict made with git, repaired, then migrated for real."""

from __future__ import annotations

import os

import pytest

from tests.databases import scratch_database
from tests.graphfix.project import ALTER_AMOUNT, GraphProject, two_branches
from tests.pipeline.project import database_settings


def sqlite_project(tmp_path, **kwargs) -> GraphProject:
    return GraphProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")),
                        **kwargs)


def assert_linear_and_migrates(project: GraphProject) -> None:
    migrate = project.django("migrate", "--noinput")
    assert migrate.code == 0, migrate.err
    check = project.django("makemigrations", "--check", "--dry-run")
    assert check.code == 0, check.out + check.err
    leaves = project.run("max-migration", "check", "shop")
    assert "leaf migrations" not in leaves.out, leaves.out


def test_moves_the_branch_after_main_and_retargets_other_apps(tmp_path):
    project = sqlite_project(tmp_path, billing=True)
    two_branches(project)
    billing_before = project.text("billing", "0001_initial")

    result = project.run("fix-conflicts")

    assert result.code == 0, result.err
    assert "shop: moving 2 migration(s) after 0002_note (the branch: 0003_due is not on main)" in result.out
    assert "  0002_paid -> 0003_paid\n  0003_due -> 0004_due\n" in result.out
    assert project.files() == ["0001_initial.py", "0002_note.py", "0003_paid.py", "0004_due.py"]
    assert 'dependencies = [("shop", "0002_note")]' in project.text("shop", "0003_paid")
    assert 'dependencies = [("shop", "0003_paid")]' in project.text("shop", "0004_due")
    # Only the dependency's own span changed: the comment and layout around it are byte-identical.
    assert project.text("billing", "0001_initial") == billing_before.replace('("shop", "0003_due")',
                                                                             '("shop", "0004_due")')
    assert_linear_and_migrates(project)


def test_dry_run_shows_a_diff_and_writes_nothing(tmp_path):
    project = sqlite_project(tmp_path)
    two_branches(project)
    before = {name: project.text("shop", name[:-3]) for name in project.files()}

    result = project.run("fix-conflicts", "shop", "--dry-run")

    assert result.code == 0, result.err
    assert "rename from" in result.out and result.out.rstrip().endswith("Nothing written (--dry-run).")
    assert '-    dependencies = [("shop", "0001_initial")]\n+    dependencies = [("shop", "0002_note")]' in result.out
    assert {name: project.text("shop", name[:-3]) for name in project.files()} == before


def test_without_git_the_later_files_are_the_branch(tmp_path):
    project = sqlite_project(tmp_path)
    project.add_field("0002_note", "0001_initial", "note")
    project.add_field("0002_paid", "0001_initial", "paid")
    project.fields("note", "paid")
    old = (project.root / "shop" / "migrations" / "0002_paid.py").stat().st_mtime - 100
    os.utime(project.root / "shop" / "migrations" / "0002_paid.py", (old, old))

    result = project.run("fix-conflicts")

    assert result.code == 0, result.err
    assert "(the branch: 0002_note has the later file time" in result.out
    assert project.files() == ["0001_initial.py", "0002_paid.py", "0003_note.py"]
    assert_linear_and_migrates(project)


def test_refuses_when_both_branches_alter_the_same_field(tmp_path):
    project = sqlite_project(tmp_path)
    project.migration("0002_amount_one", ALTER_AMOUNT.format(parent="0001_initial", default=1))
    project.migration("0002_amount_two", ALTER_AMOUNT.format(parent="0001_initial", default=2))
    before = project.files()

    result = project.run("fix-conflicts")

    assert result.code == 1
    assert result.err.strip().startswith("error: Cannot rebase shop:")
    assert "both change field invoice.amount" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert project.files() == before


def test_refuses_when_a_moved_migration_is_applied(tmp_path):
    project = sqlite_project(tmp_path)

    def migrate_feature(p: GraphProject) -> None:
        assert p.django("migrate", "--noinput").code == 0

    two_branches(project, before_merge=migrate_feature)
    before = project.files()

    result = project.run("fix-conflicts")

    assert result.code == 1
    assert result.err == ("error: Cannot move shop.0002_paid, shop.0003_due: applied in database 'default'. Unapply"
                          " it there from a checkout of the branch without the merge ('manage.py migrate shop"
                          " 0001_initial'), or run 'pilot fix-conflicts shop --merge' to keep it where it is.\n")
    assert project.files() == before


def test_following_the_refusals_advice_makes_the_move_possible(tmp_path):
    project = sqlite_project(tmp_path)
    two_branches(project, before_merge=lambda p: p.django("migrate", "--noinput"))
    assert project.run("fix-conflicts").code == 1
    project.git("checkout", "-q", "HEAD^1")  # the branch without the merge

    assert project.django("migrate", "shop", "0001_initial", "--noinput").code == 0
    project.git("checkout", "-q", "feature")
    result = project.run("fix-conflicts")

    assert result.code == 0, result.err
    assert_linear_and_migrates(project)


def test_merge_writes_djangos_merge_migration(tmp_path):
    project = sqlite_project(tmp_path)
    two_branches(project)

    result = project.run("fix-conflicts", "--merge")

    assert result.code == 0, result.err
    merges = [name for name in project.files() if "merge" in name]
    assert len(merges) == 1 and merges[0].startswith("0004_merge_")
    assert "0002_note" in project.text("shop", merges[0][:-3])
    assert_linear_and_migrates(project)


def test_nothing_to_fix(tmp_path):
    project = sqlite_project(tmp_path)

    result = project.run("fix-conflicts")

    assert (result.code, result.out) == (0, "No conflicts: shop has one leaf migration each.\n")


def test_unknown_app_is_one_line(tmp_path):
    project = sqlite_project(tmp_path)

    result = project.run("fix-conflicts", "nosuchapp")

    assert result.code == 2
    assert result.err.startswith("error: Unknown app label 'nosuchapp'") and result.err.count("\n") == 1


def test_unknown_base_is_one_line(tmp_path):
    project = sqlite_project(tmp_path)
    two_branches(project)

    result = project.run("fix-conflicts", "--base", "nope")

    assert result.code == 2
    assert result.err == "error: Unknown git ref 'nope' for --base. Use a branch, tag or commit, e.g. --base origin/main.\n"


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_fixed_history_migrates_on_a_server(vendor, request, tmp_path, scratch_db_access):
    server = request.getfixturevalue(f"{vendor}_server")
    with scratch_database(server, "pilot_fix") as name:
        project = GraphProject(tmp_path / "project", database_settings(vendor, server, name), billing=True)
        two_branches(project)

        result = project.run("fix-conflicts", "--base", "main")

        assert result.code == 0, result.err
        assert project.files() == ["0001_initial.py", "0002_note.py", "0003_paid.py", "0004_due.py"]
        deployed = project.deploy()  # pilot deploy: its own conflict check and lint gate pass too
        assert deployed.code == 0, deployed.out + deployed.err
        shown = project.django("showmigrations", "shop", "billing")
        assert "[X] 0004_due" in shown.out and "[ ] " not in shown.out
        assert project.django("makemigrations", "--check", "--dry-run").code == 0


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_refuses_when_applied_on_a_server(vendor, request, tmp_path, scratch_db_access):
    server = request.getfixturevalue(f"{vendor}_server")
    with scratch_database(server, "pilot_fix") as name:
        project = GraphProject(tmp_path / "project", database_settings(vendor, server, name))
        two_branches(project, before_merge=lambda p: p.django("migrate", "--noinput"))

        result = project.run("fix-conflicts")

        assert result.code == 1
        assert "applied in database 'default'" in result.err


def test_says_which_databases_it_could_not_check(tmp_path):
    project = sqlite_project(tmp_path)
    with (project.root / "settings.py").open("a") as settings:
        settings.write('DATABASES["replica"] = {"ENGINE": "django.db.backends.postgresql", "NAME": "x",'
                       ' "HOST": "127.0.0.1", "PORT": "1", "USER": "u", "PASSWORD": "s3cret-pw"}\n')
    two_branches(project)

    result = project.run("fix-conflicts")

    assert result.code == 0, result.err
    assert "warning: database 'replica' not checked (OperationalError: " in result.out
    assert "a moved migration applied there would not be noticed." in result.out
    assert "s3cret-pw" not in result.out + result.err


def test_merge_updates_max_migration_txt(tmp_path):
    project = sqlite_project(tmp_path)
    two_branches(project)
    (project.root / "shop" / "migrations" / "max_migration.txt").write_text("0003_due\n")

    result = project.run("fix-conflicts", "--merge")

    merge = next(name[:-3] for name in project.files() if "merge" in name)
    assert result.code == 0, result.err
    assert (project.root / "shop" / "migrations" / "max_migration.txt").read_text() == f"{merge}\n"
    assert project.run("max-migration", "check").code == 0


def test_refuses_when_applied_in_a_tenant_schema_the_fleet_history_names(postgresql_server, tmp_path):
    from tests.databases import admin_connection

    with scratch_database(postgresql_server, "pilot_fix") as name:
        project = GraphProject(tmp_path / "project", database_settings("postgresql", postgresql_server, name))
        assert project.django("migrate", "migration_pilot", "--noinput").code == 0
        two_branches(project)
        with admin_connection(postgresql_server, name) as conn:
            cursor = conn.cursor()
            cursor.execute("CREATE SCHEMA tenant_a")
            cursor.execute("CREATE TABLE tenant_a.django_migrations (id serial PRIMARY KEY, app varchar(255),"
                           " name varchar(255), applied timestamptz)")
            cursor.execute("INSERT INTO tenant_a.django_migrations (app, name, applied)"
                           " VALUES ('shop', '0001_initial', now()), ('shop', '0002_paid', now())")
            cursor.execute("INSERT INTO migration_pilot_deployrun (kind, outcome, started_at, \"user\", host, pid,"
                           " alias, plan, backup_id, error, options) VALUES ('deploy', 'succeeded', now(), 'u', 'h',"
                           " 1, 'default', '[]', '', '', '{}') RETURNING id")
            run_id = cursor.fetchone()[0]
            cursor.execute("INSERT INTO migration_pilot_fleettenant (run_id, tenant, alias, outcome, applied, error)"
                           " VALUES (%s, 'tenant_a', 'default', 'migrated', '[]', '')", [run_id])

        result = project.run("fix-conflicts")

        assert result.code == 1
        assert "Cannot move shop.0002_paid: applied in database 'default' schema 'tenant_a'." in result.err
