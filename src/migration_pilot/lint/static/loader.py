"""Django's MigrationLoader fed by the static parse: same graph, replacements and conflicts.

Apps outside the linted set that the migrations depend on or point at are
filled in without importing anything of the project:

- Django's own contrib apps (auth, contenttypes, sites...) from the
  installed Django's migration files, parsed like the project's, so
  `auth.User` and `django_content_type` are what import mode sees;
- any other app (a third-party package) with stub migrations: one that
  creates each referenced model with only an integer primary key (so states
  render), then one empty node per migration name depended on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import django
from django.db import migrations, models
from django.db.migrations.loader import MigrationLoader

from migration_pilot.lint.static.discover import StaticApp, discover_apps
from migration_pilot.lint.static.parse import parse_migration
from migration_pilot.loader import LoadedGraph, translated_load_errors
from migration_pilot.types import MigrationKey

STUB_ROOT: Final = "0000_pilot_static_stub"

#: Django's contrib apps with migrations, by label: their files ship with Django (trusted, and
#: parsed here like any other, never imported).
_CONTRIB: Final = {
    label: Path(django.__file__).parent / "contrib" / label / "migrations"
    for label in ("admin", "auth", "contenttypes", "flatpages", "redirects", "sessions", "sites")
    if (Path(django.__file__).parent / "contrib" / label / "migrations").is_dir()
}


class StaticMigrationLoader(MigrationLoader):  # type: ignore[misc]
    """A MigrationLoader whose `load_disk` parses files instead of importing modules."""

    def __init__(self, apps: Sequence[StaticApp], *, auth_user_model: str, vendor: str,
                 default_auto_field: str) -> None:
        self.static_apps = list(apps)
        self.auth_user_model = auth_user_model
        self.vendor = vendor
        self.default_auto_field = default_auto_field
        self.stub_apps: set[str] = set()
        super().__init__(None, ignore_no_migrations=True)

    def load_disk(self) -> None:
        """Parse every migration file of the static apps; add stubs for apps outside them."""
        self.disk_migrations: dict[MigrationKey, migrations.Migration] = {}
        self.unmigrated_apps: set[str] = set()
        self.migrated_apps: set[str] = set()
        for app in self.static_apps:
            self._parse_app(app)
        loaded = {app.label for app in self.static_apps}
        while True:  # Django's contrib apps the migrations need, and the ones those need
            wanted = {label for label in self._external_labels(loaded) if label in _CONTRIB}
            if not wanted:
                break
            for label in sorted(wanted):
                self._parse_app(StaticApp(label, _CONTRIB[label], f"django.contrib.{label}.migrations"))
            loaded |= wanted
        # Apps without migrations are not rendered from an app registry here: nothing is imported.
        self.unmigrated_apps = set()
        self._add_stubs(loaded)

    def _parse_app(self, app: StaticApp) -> None:
        self.migrated_apps.add(app.label)
        for path in app.files():
            self.disk_migrations[(app.label, path.stem)] = parse_migration(
                path, app_label=app.label, module=app.module_of(path),
                auth_user_model=self.auth_user_model, vendor=self.vendor,
                default_auto_field=self.default_auto_field)

    def _external_labels(self, loaded: set[str]) -> set[str]:
        """Labels of apps outside `loaded` that the parsed migrations depend on or point at."""
        found: set[str] = set()
        for (app_label, _), migration in self.disk_migrations.items():
            for dependency in [*migration.dependencies, *migration.run_before]:
                found.add(dependency[0])
            for target, _ in _model_references(migration.operations, app_label):
                found.add(target.partition(".")[0])
        return found - loaded

    def _add_stubs(self, linted: set[str]) -> None:
        names: dict[str, set[str]] = {}
        referenced: dict[str, dict[str, set[str]]] = {}
        for (app_label, _), migration in self.disk_migrations.items():
            for dependency in [*migration.dependencies, *migration.run_before]:
                if dependency[0] not in linted:
                    names.setdefault(dependency[0], set())
                    if not dependency[1].startswith("__"):
                        names[dependency[0]].add(dependency[1])
            for target, to_field in _model_references(migration.operations, app_label):
                app, _, model = target.partition(".")
                if app not in linted and model:
                    names.setdefault(app, set())
                    models_of = referenced.setdefault(app, {})
                    key = next((m for m in models_of if m.lower() == model.lower()), model)
                    models_of.setdefault(key, set()).add(to_field or "id")
        for app, depended in names.items():
            self.stub_apps.add(app)
            self.migrated_apps.add(app)
            operations = [_stub_model(model, fields)
                          for model, fields in sorted(referenced.get(app, {}).items())]
            previous = (app, STUB_ROOT)
            self.disk_migrations[previous] = _stub_migration(app, STUB_ROOT, operations, [])
            for name in sorted(depended - {STUB_ROOT}):
                self.disk_migrations[(app, name)] = _stub_migration(app, name, [], [previous])
                previous = (app, name)


def _stub_migration(app: str, name: str, operations: list[Any],
                    dependencies: list[MigrationKey]) -> migrations.Migration:
    cls = type("Migration", (migrations.Migration,), {
        "__module__": f"{app}.migrations.{name}", "operations": operations,
        "dependencies": dependencies, "static_stub": True})
    return cls(name, app)  # type: ignore[no-any-return]


def _stub_model(name: str, fields: set[str]) -> migrations.CreateModel:
    """A model of an app outside the lint: its primary key (and a to_field column), nothing else."""
    columns: list[tuple[str, models.Field[Any, Any]]] = [("id", models.AutoField(primary_key=True))]
    columns += [(f, models.CharField(max_length=255, unique=True)) for f in sorted(fields - {"id"})]
    return migrations.CreateModel(name=name, fields=columns)


def _model_references(operations: Iterable[Any], app_label: str) -> Iterable[tuple[str, str | None]]:
    """("app.Model", to_field) for every model the operations' fields and bases point at."""
    for operation in operations:
        if isinstance(operation, migrations.SeparateDatabaseAndState):
            yield from _model_references(operation.database_operations, app_label)
            yield from _model_references(operation.state_operations, app_label)
            continue
        fields = [f for _, f in getattr(operation, "fields", None) or []] if isinstance(
            operation, migrations.CreateModel) else [getattr(operation, "field", None)]
        for field in fields:
            remote = getattr(field, "remote_field", None)
            if remote is None:
                continue
            for target in (remote.model, getattr(remote, "through", None)):
                if isinstance(target, str) and "." in target:
                    yield target, getattr(remote, "field_name", None) if target == remote.model \
                        else None
        for base in getattr(operation, "bases", None) or ():
            if isinstance(base, str) and "." in base:
                yield base, None


def load_static_graph(paths: Sequence[Path], *, auth_user_model: str = "auth.User",
                      vendor: str = "postgresql",
                      default_auto_field: str = "django.db.models.AutoField",
                      ) -> tuple[LoadedGraph, list[str]]:
    """The graph of every migration under `paths`, and the labels of the apps found there.

    Raises MessageError for a bad path, MigrationLoadError for a file or graph
    Django's loader would refuse.
    """
    apps = discover_apps(paths)
    with translated_load_errors():
        loader = StaticMigrationLoader(apps, auth_user_model=auth_user_model, vendor=vendor,
                                       default_auto_field=default_auto_field)
    return LoadedGraph(loader), [app.label for app in apps if app.files()]
