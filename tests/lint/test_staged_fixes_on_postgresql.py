"""A staged fix (deploy 1, then deploy 2) applied whole gives the schema of the migration it replaces."""

import uuid

import pytest
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Func
from django.db.models.functions import Random
from django.test.utils import override_settings

from migration_pilot.drift import catalog_postgresql
from migration_pilot.drift.compare import compare
from migration_pilot.lint.render import deploy_steps
from tests.databases import scratch_connection
from tests.lint.helpers import lint_one, lint_operations, migration_source, write_package

CASES = {
    "constant default": ("add-field-not-null",
                         migrations.AddField("customer", "tier", models.CharField(max_length=10, default="basic"))),
    "one-off default": ("add-field-not-null",
                        migrations.AddField("customer", "visits", models.IntegerField(default=0),
                                            preserve_default=False)),
    "callable default": ("add-field-not-null",
                         migrations.AddField("customer", "token", models.UUIDField(default=uuid.uuid4))),
    "online rename": ("rename-column", migrations.RenameField("order", "note", "remark")),
    "drop column": ("drop-column", migrations.RemoveField("order", "note")),
    "drop foreign key column": ("drop-column", migrations.RemoveField("invoice", "order")),
    "drop table": ("drop-table", migrations.DeleteModel("invoice")),
    "volatile default": ("add-field-rewrites-table",
                         migrations.AddField("order", "token",
                                             models.UUIDField(db_default=Func(function="gen_random_uuid")))),
    "volatile default, nullable": ("add-field-rewrites-table",
                                   migrations.AddField("order", "drawn",
                                                       models.FloatField(db_default=Random(), null=True))),
}


def _schema(server, tmp_path, files):
    package = write_package(files)
    with scratch_connection("postgresql", server, tmp_path) as connection, \
            override_settings(MIGRATION_MODULES={"testapp": package}):
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes("testapp"))
        return catalog_postgresql.read(connection)


@pytest.mark.parametrize("case", sorted(CASES))
def test_staged_fix_ends_in_the_original_schema(case, postgresql_server, tmp_path):
    rule, operation = CASES[case]
    (finding,) = lint_one(rule, [operation])
    deploys = deploy_steps(finding.safe_alternative or "")
    assert len(deploys) == 2, finding.safe_alternative
    (first,), (second,) = deploys[0][-1:], deploys[1][:1]
    fixed_files = {"0002_change": deploys[0][0]}
    assert len(deploys[0]) == 1 and first
    names = ["0003_contract", "0004_two", "0005_three", "0006_four"]
    previous = "0002_change"
    for name, text in zip(names, deploys[1], strict=False):
        # each later migration depends on the one before it, whatever name the fix suggests
        head, _, tail = text.partition("dependencies = [")
        fixed_files[name] = head + f"dependencies = [('testapp', {previous!r})" + tail[tail.index("]"):]
        previous = name
    assert second

    original = _schema(postgresql_server, tmp_path / "original", {"0002_change": migration_source([operation])})
    fixed = _schema(postgresql_server, tmp_path / "fixed", fixed_files)

    differences = compare(original, fixed, strict_names=True, skip_tables=["django_migrations"])
    assert differences == [], [str(d) for d in differences]


NULLABLE_FK = migrations.AlterField("invoice", "order", models.ForeignKey("testapp.order", null=True,
                                                                           on_delete=models.CASCADE))


def test_recreated_foreign_key_fix_ends_in_the_original_schema(postgresql_server, tmp_path):
    # AlterField of a foreign key (here NOT NULL -> null): Django drops the constraint and adds it back.
    (finding,) = lint_one("add-foreign-key-validating", [NULLABLE_FK])
    (first, second), = deploy_steps(finding.safe_alternative or "")
    assert "db_constraint=False" in first and "NOT VALID" in first and "VALIDATE CONSTRAINT" in second
    assert [d.rule for d in lint_operations(source=first) if d.rule == "add-foreign-key-validating"] == []

    original = _schema(postgresql_server, tmp_path / "original", {"0002_change": migration_source([NULLABLE_FK])})
    fixed = _schema(postgresql_server, tmp_path / "fixed", {"0002_change": first, "0003_validate": second})

    differences = compare(original, fixed, strict_names=True, skip_tables=["django_migrations"])
    assert differences == [], [str(d) for d in differences]
