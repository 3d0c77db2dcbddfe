"""`pilot plan` shows the online table rename's real SQL (a view under the old name), the SQL the deploy then runs."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.databases import scratch_database
from tests.online.test_table_rename_mysql import PAYMENT
from tests.pipeline.project import DeployProject, database_settings

RENAME = '''
from django.db import migrations

from migration_pilot.operations import RenameModelOnline


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_payment")]
    operations = [RenameModelOnline("Invoice", "Bill")]
'''

MODELS = '''from django.db import models


class Bill(models.Model):
    number = models.CharField(max_length=30)
    amount = models.IntegerField(default=0)


class Payment(models.Model):
    paid = models.IntegerField(default=0)
    invoice = models.ForeignKey(Bill, on_delete=models.CASCADE)
'''

# The project's backend writes down every statement any cursor runs (the online rename runs some of its
# statements on a cursor, not through the schema editor), with its parameters merged.
LOGGING_BACKEND = '''
from django.db.backends.{vendor} import base


def log(execute, sql, params, many, context):
    text = str(sql) if not params else str(sql) % tuple(repr(p) for p in params)
    with open({log!r}, "a") as out:
        out.write(" ".join(text.split()) + "\\n")
    return execute(sql, params, many, context)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.execute_wrappers.append(log)
'''


def _project(tmp_path, vendor, server, name, initial=None, models=MODELS):
    log = tmp_path / "statements.log"
    (tmp_path / "project" / "ownbackend").mkdir(parents=True)
    (tmp_path / "project" / "ownbackend" / "__init__.py").write_text("")
    (tmp_path / "project" / "ownbackend" / "base.py").write_text(
        textwrap.dedent(LOGGING_BACKEND.format(vendor=vendor, log=str(log))))
    settings = database_settings(vendor, server, name) | {"ENGINE": "ownbackend"}
    project = DeployProject(tmp_path / "project", settings)
    if initial is None:
        project.migration("0002_payment", PAYMENT)
    else:
        project.migration("0001_initial", initial)
        project.migration("0002_payment", "from django.db import migrations\n\n\nclass Migration(migrations.Migration):"
                          "\n    dependencies = [('shop', '0001_initial')]\n")
    (project.root / "shop" / "models.py").write_text(models.replace("Bill", "Invoice"))
    assert project.deploy().code == 0
    project.migration("0003_rename", RENAME)
    (project.root / "shop" / "models.py").write_text(models)
    log.write_text("")
    return project, log


def _run_in_order(shown: list[str], ran: list[str]) -> list[str]:
    """The statements of `shown` not found in `ran` in the same order (empty: the plan showed what ran)."""
    missing, position = [], 0
    for statement in shown:
        wanted = " ".join(statement.rstrip(";").split()).replace("'", "")
        found = next((i for i in range(position, len(ran)) if ran[i].replace("'", "") == wanted), None)
        if found is None:
            missing.append(statement)
        else:
            position = found + 1
    return missing


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_plan_shows_the_sql_the_online_table_rename_runs(vendor, request, tmp_path, scratch_db_access):
    server = request.getfixturevalue(f"{vendor}_server")
    with scratch_database(server, "pilot_plan_trename") as name:
        project, log = _project(tmp_path, vendor, server, name)
        planned = project.run("plan", "--format", "json")
        text = project.run("plan")
        deployed = project.deploy("--phase", "pre")
        ran = log.read_text().splitlines()

    assert planned.code == 0, planned.err
    (entry,) = [m for m in json.loads(planned.out)["migrations"] if m["name"] == "0003_rename"]
    shown = [s for s in entry["forward_sql"] if not s.startswith("--")]
    assert deployed.code == 0, deployed.out + deployed.err
    assert any(s.startswith("CREATE") and "VIEW" in s and "FROM" in s and "shop_bill" in s for s in shown), shown
    assert _run_in_order(shown, ran) == [], ran
    (why,) = [line for line in entry["online"] if "RenameTableContract" in line]
    assert why.startswith("rename table shop_invoice to shop_bill and ") and f"online: {why}" in text.out
    if vendor == "postgresql":
        assert any(s.startswith('CREATE VIEW "shop_invoice" AS SELECT * FROM "shop_bill"') for s in shown)
        assert any(s.startswith('COMMENT ON VIEW "shop_invoice"') for s in shown)
    else:
        assert "foreign_key_checks = 0" in why
        swap = next(s for s in shown if s.startswith("RENAME TABLE"))
        assert "`shop_invoice` TO `shop_bill`, `pilot_view_" in swap and swap.endswith("` TO `shop_invoice`;")
        assert shown.index("SET @pilot_fk_checks = @@foreign_key_checks, foreign_key_checks = 0;") > shown.index(swap)
        assert shown[-1] == "SET foreign_key_checks = @pilot_fk_checks;"
        assert not any(s.startswith("ALTER TABLE `shop_invoice` RENAME") for s in shown)


def test_plan_shows_the_views_of_renamed_many_to_many_tables(postgresql_server, tmp_path, scratch_db_access):
    from tests.online.test_table_rename_m2m import INITIAL as M2M
    from tests.online.test_table_rename_m2m import MODELS as M2M_MODELS

    with scratch_database(postgresql_server, "pilot_plan_trename_m2m") as name:
        project, log = _project(tmp_path, "postgresql", postgresql_server, name, M2M, M2M_MODELS.format(name="Bill"))
        planned = project.run("plan", "--format", "json")
        deployed = project.deploy("--phase", "pre")
        ran = log.read_text().splitlines()

    assert planned.code == 0 and deployed.code == 0, planned.err + deployed.out + deployed.err
    (entry,) = [m for m in json.loads(planned.out)["migrations"] if m["name"] == "0003_rename"]
    shown = [s for s in entry["forward_sql"] if not s.startswith("--")]
    assert 'CREATE VIEW "shop_invoice_tags" AS SELECT "id", "bill_id" AS "invoice_id", "tag_id" FROM' \
        ' "shop_bill_tags";' in shown
    assert _run_in_order(shown, ran) == [], ran
