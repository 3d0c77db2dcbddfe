"""The static evaluator builds the operations import mode builds, and runs nothing it should not.

Fixture migrations (tests/lint/static_fixtures) are parsed by static mode and,
for the trusted ones, also imported here, and the operations compared through
Django's `deconstruct()`. The hostile fixture is only ever parsed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from django.db import migrations
from django.db.migrations.writer import MigrationWriter

from migration_pilot.analysis.source import function_source
from migration_pilot.lint.static import discover_apps, load_static_graph
from migration_pilot.lint.static.parse import parse_migration
from migration_pilot.lint.static.placeholders import (
    Opaque,
    OpaqueReference,
    UnknownField,
    UnknownOperation,
)

FIXTURES = Path(__file__).resolve().parent / "static_fixtures"
EVALAPP = FIXTURES / "evalapp" / "migrations"
MARKER = Path("/tmp/pilot-static-hostile-marker")


def _imported(path: Path) -> migrations.Migration:
    spec = importlib.util.spec_from_file_location(f"static_fixture_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Migration(path.stem, "static_evalapp")


def _static(path: Path) -> migrations.Migration:
    return parse_migration(path, app_label="static_evalapp", module=f"evalapp.migrations.{path.stem}",
                           auth_user_model="auth.User")


def _comparable(operation: object) -> object:
    """The operation as migration source (Django's writer): equal text, equal operation."""
    if isinstance(operation, migrations.RunPython):
        return "RunPython", operation.code.__name__, operation.reverse_code is migrations.RunPython.noop
    text, _ = MigrationWriter.serialize(operation)
    return text


@pytest.mark.parametrize("name", ["0001_initial", "0002_changes", "0001_squashed_0002_changes"])
def test_builds_the_operations_import_mode_builds(name):
    path = EVALAPP / f"{name}.py"

    static, imported = _static(path), _imported(path)

    assert [_comparable(op) for op in static.operations] == [
        _comparable(op) for op in imported.operations]
    assert list(static.dependencies) == list(imported.dependencies)
    assert list(static.replaces) == list(imported.replaces)
    assert static.initial == imported.initial and static.atomic == imported.atomic


def test_swappable_dependency_names_the_setting():
    (dependency,) = _static(EVALAPP / "0001_initial.py").dependencies

    assert dependency == ("auth", "__first__")
    assert dependency.setting == "auth.User"  # type: ignore[attr-defined]  # as import mode builds it


def test_run_python_is_a_stub_whose_source_rules_can_read():
    run_python = _static(EVALAPP / "0002_changes.py").operations[4]

    found = function_source(run_python.code)

    assert found is not None
    assert found[1].name == "fill_codes"
    assert found[0].path == str((EVALAPP / "0002_changes.py").resolve())
    with pytest.raises(RuntimeError, match="never runs migration code"):
        run_python.code(None, None)


def test_graph_uses_the_squashed_migration_djangos_auth_and_a_third_party_stub():
    from django.db.migrations.state import ProjectState

    loaded, labels = load_static_graph([FIXTURES / "evalapp"])

    assert labels == ["static_evalapp"]
    nodes = loaded.graph.nodes
    assert ("static_evalapp", "0001_squashed_0002_changes") in nodes
    assert ("static_evalapp", "0002_changes") not in nodes
    # Django's own auth migrations, parsed from the installed Django (auth.User as import mode has it).
    assert ("auth", "0012_alter_user_first_name_max_length") in nodes
    assert ("contenttypes", "0001_initial") in nodes
    # A third-party app: a stub creating the referenced model with its primary key only.
    assert ("thirdparty", "0000_pilot_static_stub") in nodes and ("thirdparty", "0003_tags") in nodes
    state = ProjectState()
    for key in loaded.graph.forwards_plan(("static_evalapp", "0001_squashed_0002_changes")):
        for operation in nodes[key].operations:
            operation.state_forwards(key[0], state)
    assert list(state.models["thirdparty", "tag"].fields) == ["id"]
    assert "username" in state.models["auth", "user"].fields
    assert state.apps.get_model("static_evalapp", "invoice")._meta.get_field("tag").related_model \
        is state.apps.get_model("thirdparty", "tag")


def test_app_label_comes_from_apps_py_without_importing_it():
    (app,) = discover_apps([FIXTURES / "evalapp"])

    assert app.label == "static_evalapp"


def test_hostile_file_is_not_executed_and_yields_placeholders():
    MARKER.unlink(missing_ok=True)
    path = FIXTURES / "hostile" / "migrations" / "0001_hostile.py"

    migration = parse_migration(path, app_label="hostile", module="hostile.migrations.0001_hostile",
                                auth_user_model="auth.User")

    assert not MARKER.exists()
    create, run_sql, system, options, globals_trick, local_class = migration.operations
    fields = dict(create.fields)
    assert isinstance(fields["balance"], UnknownField)
    assert type(fields["balance"]).unknown_path == "hostile_project.fields.MoneyField"
    assert isinstance(fields["label"], UnknownField) or isinstance(fields["label"].max_length, Opaque)
    # A Django function that is not migration vocabulary is a placeholder, never the function.
    assert isinstance(fields["calls"].default, OpaqueReference)
    assert fields["calls"].default() is None
    assert isinstance(run_sql, UnknownOperation)
    assert isinstance(system, UnknownOperation)
    assert isinstance(options.options["x"], Opaque)
    assert isinstance(globals_trick, UnknownOperation)
    assert isinstance(local_class, UnknownOperation)


def test_hostile_app_lints_with_unknown_operation_findings(tmp_path):
    from migration_pilot.lint.static.run import lint_static

    MARKER.unlink(missing_ok=True)

    result = lint_static([FIXTURES / "hostile"], vendor="postgresql")

    assert not MARKER.exists()
    rules = {(d.rule, d.operation) for d in result.diagnostics}
    assert ("unknown-operation", 1) in rules
    assert ("unknown-operation", 2) in rules


def test_unknown_operation_findings_say_what_static_lint_could_not_evaluate():
    from migration_pilot.lint.static.run import lint_static

    result = lint_static([FIXTURES / "hostile"], vendor="postgresql")

    messages = {d.operation: d.message for d in result.diagnostics if d.rule == "unknown-operation"}
    assert messages[1] == ("lint --static could not evaluate the arguments of migrations.RunSQL(EXEC)"
                           " (they name code it does not import), so its database effect was not"
                           " checked.")
    assert messages[2].startswith("__import__('os').system('touch /tmp/pilot-static-hostile-marker')"
                                  " is not an operation lint --static can evaluate")
    assert messages[5] == ("DropEverything() uses an operation class defined in the migration file;"
                           " lint --static runs no code from the file, so its database effect was"
                           " not checked.")


def test_deeply_nested_file_is_a_one_line_load_error(tmp_path):
    from migration_pilot.exceptions import MigrationLoadError

    path = tmp_path / "0001_deep.py"
    chain = "".join(f"X{i} = [X{i + 1}]\n" for i in range(5000))  # the parser allows it; evaluating recurses
    path.write_text("from django.db import migrations\n\n" + chain
                    + "\n\nclass Migration(migrations.Migration):\n    operations = X0\n")

    with pytest.raises(MigrationLoadError, match="nested too deeply"):
        parse_migration(path, app_label="deep", module="deep.migrations.0001_deep",
                        auth_user_model="auth.User")
