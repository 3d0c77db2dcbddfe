"""Every bad input gets one line on stderr, exit code 2, and no traceback."""

import pytest

from tests.cli.project import ADD_INDEX, make_project


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def assert_one_line_error(result, *needles):
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unknown_app_label(project):
    result = project.run("lint", "nosuchapp")

    assert_one_line_error(result, "Unknown app label 'nosuchapp'", "shop")


def test_syntax_error_in_migration_names_the_file(project):
    project.migration("0002_broken", "from django.db import migrations\nclass Migration(:\n")

    result = project.run("lint")

    assert_one_line_error(result, "Syntax error", "0002_broken.py")


def test_failing_import_in_migration(project):
    project.migration("0002_bad_import", "import shop.does_not_exist\n")

    result = project.run("lint")

    assert_one_line_error(result, "Cannot import migration", "does_not_exist")


def test_dependency_on_missing_migration(project):
    project.migration("0002_orphan", """
        from django.db import migrations
        class Migration(migrations.Migration):
            dependencies = [("shop", "0001_initial"), ("shop", "0099_missing")]
            operations = []
    """)

    result = project.run("lint")

    assert_one_line_error(result, "0099_missing")


def test_circular_dependency(project):
    project.migration("0002_a", """
        from django.db import migrations
        class Migration(migrations.Migration):
            dependencies = [("shop", "0003_b")]
            operations = []
    """)
    project.migration("0003_b", """
        from django.db import migrations
        class Migration(migrations.Migration):
            dependencies = [("shop", "0002_a")]
            operations = []
    """)

    result = project.run("lint")

    assert_one_line_error(result, "Circular dependency")


def test_malformed_pyproject(project):
    project.write("pyproject.toml", "[tool.migration_pilot\nselect = [")

    result = project.run("lint")

    assert_one_line_error(result, "Malformed TOML", "pyproject.toml")


def test_unknown_config_key(project):
    project.write("pyproject.toml", "[tool.migration_pilot]\nselct = ['drop-column']\n")

    result = project.run("lint")

    assert_one_line_error(result, "Unknown key 'selct'", "pyproject.toml")


def test_unknown_rule_in_config(project):
    project.write("pyproject.toml", "[tool.migration_pilot]\nignore = ['add-idx']\n")

    result = project.run("lint")

    assert_one_line_error(result, "Unknown rule 'add-idx'", "pilot rules")


def test_unknown_rule_in_flag(project):
    result = project.run("lint", "--select", "nope")

    assert_one_line_error(result, "Unknown rule 'nope' in --select")


def test_bad_baseline_migration(project):
    project.write("pyproject.toml", "[tool.migration_pilot]\nbaseline = {shop = '0042_gone'}\n")

    result = project.run("lint")

    assert_one_line_error(result, "shop.0042_gone", "does not exist")


def test_bad_since_ref(project):
    import subprocess

    subprocess.run(["git", "init", "-q", str(project.root)], check=True)

    result = project.run("lint", "--since", "no-such-branch")

    assert_one_line_error(result, "Unknown git ref 'no-such-branch'")


def test_since_outside_git_repository(project):
    result = project.run("lint", "--since", "main")

    assert_one_line_error(result, "needs a git repository")


def test_unknown_database_alias(project):
    result = project.run("lint", "--database", "replica")

    assert_one_line_error(result, "Unknown database alias 'replica'", "default")


def test_bad_pg_version(project):
    result = project.run("lint", "--pg-version", "fifteen")

    assert_one_line_error(result, "Bad PostgreSQL version 'fifteen'")


def test_bad_fail_on(project):
    result = project.run("lint", "--fail-on", "sometimes")

    assert_one_line_error(result, "fail_on", "sometimes")


def test_bad_format_is_a_usage_error(project):
    result = project.run("lint", "--format", "xml")

    assert result.code == 2
    assert "invalid choice: 'xml'" in result.err
    assert "Traceback" not in result.err


def test_missing_settings(project):
    result = project.run("lint", settings=None)

    assert_one_line_error(result, "no Django settings", "--settings")


def test_settings_that_do_not_import(project):
    result = project.run("lint", settings="no_such_settings")

    assert_one_line_error(result, "cannot load Django settings 'no_such_settings'")


def test_traceback_flag_shows_the_traceback(project):
    result = project.run("lint", "nosuchapp", "--traceback")

    assert result.code != 0
    assert "Traceback" in result.err


def test_lint_never_connects_to_the_database(project):
    project.migration("0002_index", ADD_INDEX)

    result = project.run("lint")

    # The configured server (192.0.2.1:1) is unreachable: any connection attempt would fail.
    assert result.code == 1, result.err
    assert "add-index-non-concurrent" in result.out
    assert "s3cret-pw" not in result.out + result.err
