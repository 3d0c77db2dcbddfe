"""Fleet discovery through the real django-tenants and django-pgschemas from PyPI, in their documented layouts.

Each test builds a project the package's way (its settings, backend, router and
tenant model), creates the tenants the package's way (saving tenant rows, which
makes and migrates their schemas), then asks `pilot plan --fleet` and `pilot
deploy --fleet` for the fleet and compares it with what the package itself
lists; after the deploy, Django's executor, pointed at each schema by the
package, sees nothing pending there, and `pilot rollback --fleet` undoes it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import django
import pytest

from tests.fleet.project import FleetProject

TENANTS = ["acme", "globex", "initech"]


def _installed(module: str) -> bool:
    """Whether the package is there, without importing it: importing django_pgschemas connects a pre_delete
    receiver to every model of this test process, which then asks for settings.TENANTS on any delete."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


needs_tenants = pytest.mark.skipif(not _installed("django_tenants"), reason=(
    "django-tenants is not installed (pip install -e '.[dev]' installs it; 4.0.x supports Django 5.2-6.1)"))
needs_pgschemas = pytest.mark.skipif(not _installed("django_pgschemas"), reason=(
    f"django-pgschemas is not installed: its newest release (1.1.1) supports Django 5.0-5.2 only (it requires"
    f" Django<6.0) and this leg runs Django {django.get_version()}"
    if django.VERSION >= (6,) else
    "django-pgschemas is not installed (the dev extra installs it on Python < 3.12, where Django is 5.x)"))

CUSTOMERS_TENANTS = '''
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Client(TenantMixin):
    name = models.CharField(max_length=100)
    auto_create_schema = True


class Domain(DomainMixin):
    pass
'''

CUSTOMERS_TENANTS_0001 = '''
import django.db.models.deletion
import django_tenants.postgresql_backend.base
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Client",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("schema_name", models.CharField(db_index=True, max_length=63, unique=True,
                                                 validators=[django_tenants.postgresql_backend.base._check_schema_name])),
                ("name", models.CharField(max_length=100)),
            ],
            options={"abstract": False},
        ),
        migrations.CreateModel(
            name="Domain",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("domain", models.CharField(db_index=True, max_length=253, unique=True)),
                ("is_primary", models.BooleanField(db_index=True, default=True)),
                ("tenant", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="domains",
                                             to="customers.client")),
            ],
            options={"abstract": False},
        ),
    ]
'''

CUSTOMERS_PGSCHEMAS = '''
from django.db import models
from django_pgschemas.models import TenantModel


class Tenant(TenantModel):
    name = models.CharField(max_length=100)
'''

CUSTOMERS_PGSCHEMAS_0001 = '''
import django_pgschemas.postgresql.base
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Tenant",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("schema_name", models.CharField(max_length=63, unique=True,
                                                 validators=[django_pgschemas.postgresql.base.check_schema_name])),
                ("name", models.CharField(max_length=100)),
            ],
            options={"abstract": False},
        ),
    ]
'''

# django-tenants' documented settings: shared apps in public, tenant apps in every tenant schema.
TENANTS_SETTINGS = '''
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
SHARED_APPS = ["django_tenants", "customers", "django.contrib.contenttypes", "migration_pilot"]
TENANT_APPS = ["django.contrib.contenttypes", "shop"]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]
TENANT_MODEL = "customers.Client"
TENANT_DOMAIN_MODEL = "customers.Domain"
MIGRATION_PILOT = {"backup_dir": BASE_DIR + "/backups"}
'''

# django-pgschemas' documented settings: TENANTS with public, static tenants, and the dynamic ones' default.
PGSCHEMAS_SETTINGS = '''
DATABASES["default"]["ENGINE"] = "django_pgschemas.postgresql"
DATABASE_ROUTERS = ("django_pgschemas.routers.TenantAppsRouter",)
ROOT_URLCONF = "urls"
TENANTS = {
    "public": {"APPS": ["django.contrib.contenttypes", "django_pgschemas", "customers", "migration_pilot"]},
    "www": {"APPS": ["shop"], "URLCONF": "urls"},
    "default": {"TENANT_MODEL": "customers.Tenant", "APPS": ["shop"], "URLCONF": "urls",
                "CLONE_REFERENCE": "sample"},
}
INSTALLED_APPS = []
for schema in TENANTS:
    INSTALLED_APPS += [app for app in TENANTS[schema]["APPS"] if app not in INSTALLED_APPS]
MIGRATION_PILOT = {"backup_dir": BASE_DIR + "/backups"}
'''

TENANTS_SETUP = '''
import json
from django.core.management import call_command
from django_tenants.utils import get_public_schema_name, get_tenant_model

call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
Client = get_tenant_model()
Client(schema_name=get_public_schema_name(), name="public").save()
for name in NAMES:
    Client(schema_name=name, name=name.title()).save(verbosity=0)  # auto_create_schema: created and migrated
'''

TENANTS_LISTED = '''
from django_tenants.utils import get_public_schema_name, get_tenant_model

# What django-tenants' migrate_schemas --tenant walks: every tenant row but the public schema's.
listed = list(get_tenant_model().objects.exclude(schema_name=get_public_schema_name())
              .order_by("pk").values_list("schema_name", flat=True))
'''

TENANTS_PENDING = '''
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_tenants.utils import schema_context

pending = {}
for schema in listed:
    with schema_context(schema):
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        pending[schema] = [m.app_label + "." + m.name for m, _ in plan if m.app_label == "shop"]
'''

PGSCHEMAS_SETUP = '''
from django.core.management import call_command
from django_pgschemas.utils import get_tenant_model

call_command("migrate", schemas=["public", "www", "sample"], interactive=False, verbosity=0)
for name in NAMES:
    get_tenant_model()(schema_name=name, name=name.title()).save(verbosity=0)  # created (cloned) and migrated
'''

PGSCHEMAS_LISTED = '''
import io
from django.core.management import call_command

# What django-pgschemas' own commands walk for "all schemas" (whowill lists them), public apart.
out = io.StringIO()
call_command("whowill", all_schemas=True, interactive=False, stdout=out)
listed = [line for line in out.getvalue().split() if line != "public"]
'''

PGSCHEMAS_PENDING = '''
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_pgschemas.schema import Schema

pending = {}
for schema in listed:
    with Schema.create(schema):
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        pending[schema] = [m.app_label + "." + m.name for m, _ in plan if m.app_label == "shop"]
'''


class PackageProject(FleetProject):
    """FleetProject whose tenants come from a tenant package (no MIGRATION_PILOT['fleet'])."""

    def __init__(self, root: Path, server: Any, name: str, *, settings: str, models: str, initial: str) -> None:
        super().__init__(root, server, name)
        base = (root / "settings.py").read_text().replace("MIGRATION_PILOT =", "_FLEET_SQL =")
        (root / "settings.py").write_text(base + textwrap.dedent(settings))
        (root / "urls.py").write_text("urlpatterns = []\n")
        (root / "customers" / "migrations").mkdir(parents=True)
        (root / "customers" / "__init__.py").write_text("")
        (root / "customers" / "migrations" / "__init__.py").write_text("")
        (root / "customers" / "models.py").write_text(textwrap.dedent(models).lstrip())
        (root / "customers" / "migrations" / "0001_initial.py").write_text(textwrap.dedent(initial).lstrip())

    def script(self, code: str, **values: Any) -> Any:
        """Run `code` in the project (Django set up); the JSON of its `result` variable."""
        prelude = "import django, json\ndjango.setup()\n" + "".join(
            f"{key} = {value!r}\n" for key, value in values.items())
        env = {**self.env(), "DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": str(self.root)}
        done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)
                               + "\nprint(json.dumps(result))\n"], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def schemas_with_note(self) -> set[str]:
        rows = self.sql("SELECT table_schema FROM information_schema.columns WHERE table_name = 'shop_invoice'"
                        " AND column_name = 'note'")
        return {row[0] for row in rows}


def _deploy_and_compare(project: PackageProject, listed_code: str, pending_code: str, source: str,
                        expected: list[str]) -> None:
    listed = project.script(listed_code + "\nresult = listed\n")
    assert sorted(listed) == sorted(expected)  # the package lists exactly the tenants made
    project.schemas(["stray"])  # a schema that is no tenant: not the package's, not the fleet's
    project.add_note()

    plan = project.run("plan", "--fleet", "--format", "json")

    assert plan.code == 0, plan.out + plan.err
    found = json.loads(plan.out)
    assert found["source"] == source
    assert found["tenants"] == len(listed)
    assert found["missing_history"] == [] and found["diverged"] == {}
    planned = sorted(t for g in found["groups"] for t in g["tenants"])
    assert planned == sorted(listed)
    assert all(["shop", "0002_note"] in g["migrations"] for g in found["groups"])

    deployed = project.run("deploy", "--fleet", "--no-backup")

    assert deployed.code == 0, deployed.out + deployed.err
    assert f"Fleet: {len(listed)} tenant(s) from {source}." in deployed.out
    assert f"Deployed: {len(listed)} tenant(s) migrated, 0 already at the target." in deployed.out
    assert project.schemas_with_note() == set(listed)  # not public, not stray
    pending = project.script(listed_code + pending_code + "\nresult = pending\n")
    assert pending == {schema: [] for schema in listed}  # the package's own view: nothing left in any tenant

    rolled_back = project.run("rollback", "--fleet", "--accept-data-loss")  # through the package's schema too

    assert rolled_back.code == 0, rolled_back.out + rolled_back.err
    assert f"in {len(listed)} tenant(s)." in rolled_back.out
    assert project.schemas_with_note() == set()


@needs_tenants
def test_django_tenants_fleet_is_its_tenant_rows_without_public(postgresql_server, tmp_path, scratch_db_access):
    from tests.databases import scratch_database

    with scratch_database(postgresql_server, "pilot_fleet_dt") as name:
        project = PackageProject(tmp_path / "project", postgresql_server, name, settings=TENANTS_SETTINGS,
                                 models=CUSTOMERS_TENANTS, initial=CUSTOMERS_TENANTS_0001)
        project.script(TENANTS_SETUP + "\nresult = None\n", NAMES=TENANTS)
        assert project.schemas_with_note() == set()
        shop_tables = {row[0] for row in project.sql(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'shop_invoice'")}
        assert shop_tables == set(TENANTS)  # the package made each tenant's tables, none in public

        _deploy_and_compare(project, TENANTS_LISTED, TENANTS_PENDING, "django-tenants", TENANTS)


@needs_pgschemas
def test_django_pgschemas_fleet_is_its_static_reference_and_dynamic_schemas(postgresql_server, tmp_path,
                                                                            scratch_db_access):
    from tests.databases import scratch_database

    with scratch_database(postgresql_server, "pilot_fleet_pgs") as name:
        project = PackageProject(tmp_path / "project", postgresql_server, name, settings=PGSCHEMAS_SETTINGS,
                                 models=CUSTOMERS_PGSCHEMAS, initial=CUSTOMERS_PGSCHEMAS_0001)
        project.script(PGSCHEMAS_SETUP + "\nresult = None\n", NAMES=TENANTS)
        shop_tables = {row[0] for row in project.sql(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'shop_invoice'")}
        assert shop_tables == {"www", "sample", *TENANTS}

        _deploy_and_compare(project, PGSCHEMAS_LISTED, PGSCHEMAS_PENDING, "django-pgschemas",
                            ["www", "sample", *TENANTS])
