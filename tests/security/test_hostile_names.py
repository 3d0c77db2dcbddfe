"""S7 on a real PostgreSQL server: hostile table names through deploy, verify's drift queries and the
sequence fix.

Names with a semicolon and a comment (`Bill; DROP TABLE shop_victim; --`), a single quote (`o'brien`, which
breaks a string literal built by hand, as in setval('...')), mixed case, and two 62-byte names whose serial
sequences collide at PostgreSQL's 63-byte limit (the server names the second `..._seq1`). Django itself
cannot take a name with a double quote (its quote_name does not double it), so none is used.
"""

from __future__ import annotations

import json

from tests.databases import scratch_database
from tests.pipeline.inspect_db import query
from tests.pipeline.project import DeployProject

SEMICOLON = "Bill; DROP TABLE shop_victim; --"
QUOTE = "o'brien"
LONG_A = "l" * 56 + "_alpha"
LONG_B = "l" * 56 + "_bravo"
TABLES = [SEMICOLON, QUOTE, LONG_A, LONG_B]
MODELS = ["Semi", "Quote", "LongA", "LongB"]

MIGRATION = '''
from django.db import migrations, models


def model(name, table):
    return migrations.CreateModel(
        name=name,
        fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("label", models.CharField(max_length=20, db_index=True))],
        options={"db_table": table},
    )


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(name="Victim", fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))],
                               options={"db_table": "shop_victim"}),
        *[model(name, table) for name, table in %r],
    ]
'''

MODELS_PY = '''
from django.db import models


class Victim(models.Model):
    class Meta:
        db_table = "shop_victim"


def _model(name, table):
    meta = type("Meta", (), {"db_table": table, "app_label": "shop"})
    return type(name, (models.Model,), {"__module__": __name__, "Meta": meta,
                                        "label": models.CharField(max_length=20, db_index=True)})


for _name, _table in %r:
    globals()[_name] = _model(_name, _table)
'''


def test_hostile_names_through_deploy_verify_and_the_sequence_fix(postgresql_server, tmp_path):
    pairs = list(zip(MODELS, TABLES, strict=True))
    with scratch_database(postgresql_server, "pilot_hostile") as name:
        project = DeployProject(tmp_path / "p", postgresql_server.django_settings(name))
        project.migration("0001_initial", MIGRATION % (pairs,))
        (project.root / "shop" / "models.py").write_text(MODELS_PY % (pairs,))

        deployed = project.run("deploy")
        assert deployed.code == 0, deployed.out + deployed.err
        sequences = query("postgresql", postgresql_server, name,
                          "SELECT c.relname, s.relname FROM pg_class c JOIN pg_depend d ON d.refobjid = c.oid"
                          " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' ORDER BY 1")
        clean = project.run("verify", "--format", "json")
        # Rows with explicit ids: every sequence is now behind its table (a data-only restore does this).
        for table in TABLES:
            quoted = '"' + table + '"'
            query("postgresql", postgresql_server, name,
                  f"INSERT INTO {quoted} (id, label) VALUES (7, 'x'), (9, 'y')")  # test code: name written here
        behind = project.run("verify", "--format", "json")
        fixes = [d["fix"] for d in json.loads(behind.out)["differences"]] if behind.out.startswith("{") else []
        for fix in fixes:
            query("postgresql", postgresql_server, name, fix)
        fixed = project.run("verify", "--format", "json")
        after_fix = [query("postgresql", postgresql_server, name,
                           f"INSERT INTO \"{table}\" (label) VALUES ('z') RETURNING id")[0][0] for table in TABLES]
        victim = query("postgresql", postgresql_server, name, "SELECT to_regclass('shop_victim') IS NOT NULL")
        drift_table = LONG_B
        query("postgresql", postgresql_server, name, f'ALTER TABLE "{drift_table}" ALTER COLUMN label DROP NOT NULL')
        drift = project.run("verify", "--format", "json")

    assert deployed.code == 0, deployed.out + deployed.err
    long_sequences = sorted(seq for table, seq in sequences if table in (LONG_A, LONG_B))
    assert len(long_sequences) == 2 and long_sequences[0] != long_sequences[1]
    assert all(len(seq.encode()) <= 63 for seq in long_sequences)
    assert clean.code == 0, clean.out + clean.err
    assert behind.code == 1, behind.out + behind.err
    report = json.loads(behind.out)
    assert {(d["kind"], d["table"]) for d in report["differences"]} == {("sequence_behind", t) for t in TABLES}
    assert all(d["expected"] == "next value above max(id) = 9" for d in report["differences"])
    assert fixed.code == 0, fixed.out + fixed.err
    assert after_fix == [10, 10, 10, 10]
    assert victim == [(True,)]
    assert drift.code == 1, drift.out + drift.err
    (difference,) = json.loads(drift.out)["differences"]
    assert (difference["kind"], difference["table"], difference["object"]) == ("column_nullability", LONG_B, "label")
    assert difference["fix"].startswith(f'ALTER TABLE "{LONG_B}" ALTER COLUMN "label" SET NOT NULL;')
