"""B5 on a real PostgreSQL 15: statements that cannot run in a transaction, predicted by lint and proven.

Each case is an atomic migration; `pilot lint` must flag it (rule
concurrent-in-atomic), `pilot deploy` refuses it before running anything, and
with the gate off (`--fail-on never`) the server fails it with the error lint
predicted, leaving nothing applied. The counter-cases (the value
added and used in two migrations, VACUUM in a non-atomic migration) lint clean
and deploy.
"""

from __future__ import annotations

import pytest

from tests.pipeline.inspect_db import applied, query

ENUM_TYPE = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.RunSQL("CREATE TYPE shop_mood AS ENUM ('calm'); ALTER TABLE shop_invoice ADD COLUMN mood shop_mood",
                          "ALTER TABLE shop_invoice DROP COLUMN mood; DROP TYPE shop_mood"),
    ]
'''

ADD_AND_USE = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_mood")]
    operations = [
        migrations.RunSQL("ALTER TYPE shop_mood ADD VALUE 'angry'", migrations.RunSQL.noop),
        migrations.RunSQL("UPDATE shop_invoice SET mood = 'angry'", migrations.RunSQL.noop),
    ]
'''

ADD_ONLY = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_mood")]
    operations = [migrations.RunSQL("ALTER TYPE shop_mood ADD VALUE 'angry'", migrations.RunSQL.noop)]
'''

USE_ONLY = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_statement")]
    operations = [migrations.RunSQL("UPDATE shop_invoice SET mood = 'angry'", migrations.RunSQL.noop)]
'''

ONE_STATEMENT = '''
from django.db import migrations


class Migration(migrations.Migration):
    atomic = {atomic}
    dependencies = [("shop", "0002_mood")]
    operations = [migrations.RunSQL({sql!r}, migrations.RunSQL.noop)]
'''


def _lint(project):
    return project.run("lint", "shop", "--format", "json")


@pytest.mark.parametrize("vendor", ["postgresql"])
def test_new_enum_value_used_in_the_same_transaction_is_flagged_and_fails(deployable):
    project, vendor, server, name = deployable
    project.migration("0002_mood", ENUM_TYPE)
    assert project.deploy().code == 0
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount, mood) VALUES ('a', 1, 'calm')")
    project.migration("0003_statement", ADD_AND_USE)

    linted = _lint(project)
    gated = project.deploy()
    deployed = project.deploy("--fail-on", "never")

    assert linted.code != 0, linted.out + linted.err
    assert "ALTER TYPE shop_mood ADD VALUE 'angry' and a later use of 'angry' run in one transaction" in linted.out
    assert gated.code == 1 and "first: concurrent-in-atomic in shop.0003_statement" in gated.out, gated.out
    assert deployed.code == 3, deployed.out + deployed.err
    assert "unsafe use of new value" in deployed.out
    assert ("shop", "0003_statement") not in applied(vendor, server, name)
    assert query(vendor, server, name, "SELECT enum_range(NULL::shop_mood)::text") == [("{calm}",)]

    # Split in two migrations: lint is clean of it, and the deploy applies both.
    project.migration("0003_statement", ADD_ONLY)
    project.migration("0004_use", USE_ONLY)
    assert "unsafe use" not in _lint(project).out
    split = project.deploy("--fail-on", "never")  # the UPDATE of every row is unbatched-backfill's
    assert split.code == 0, split.out + split.err
    assert query(vendor, server, name, "SELECT mood::text FROM shop_invoice") == [("angry",)]


@pytest.mark.parametrize("vendor", ["postgresql"])
@pytest.mark.parametrize(("sql", "what", "error"), [
    ("VACUUM shop_invoice", "VACUUM", "VACUUM cannot run inside a transaction block"),
    ("ALTER SYSTEM SET work_mem = '4MB'", "ALTER SYSTEM", "ALTER SYSTEM cannot run inside a transaction block"),
])
def test_statement_never_run_in_a_transaction_is_flagged_and_fails(deployable, sql, what, error):
    project, vendor, server, name = deployable
    project.migration("0002_mood", ENUM_TYPE)
    assert project.deploy().code == 0
    project.migration("0003_statement", ONE_STATEMENT.format(atomic=True, sql=sql))

    linted = _lint(project)
    gated = project.deploy()
    deployed = project.deploy("--fail-on", "never")

    assert gated.code == 1 and "first: concurrent-in-atomic in shop.0003_statement" in gated.out, gated.out
    assert f"{what} cannot run inside a transaction block, but this migration is atomic" in linted.out, linted.out
    assert deployed.code == 3, deployed.out + deployed.err
    assert error in deployed.out
    assert ("shop", "0003_statement") not in applied(vendor, server, name)
    if what == "VACUUM":  # without the migration's transaction it runs: lint clean, deploy applies it
        project.migration("0003_statement", ONE_STATEMENT.format(atomic=False, sql=sql))
        assert "VACUUM cannot run" not in _lint(project).out
        assert project.deploy().code == 0
