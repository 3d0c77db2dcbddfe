"""Migration graph problems the deploy refuses before it changes anything: a cycle (D4), a stale .pyc (D7).

The graph is read from disk the same way for every vendor, so SQLite is enough to prove the refusal.
"""

from __future__ import annotations

import py_compile

import pytest

from tests.pipeline.inspect_db import applied
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject

CYCLE_A = """
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_b")]
    operations = []
"""
CYCLE_B = CYCLE_A.replace('("shop", "0003_b")', '("shop", "0002_a")')


@pytest.fixture
def deployed(tmp_path):
    name = str(tmp_path / "db.sqlite3")
    project = DeployProject(tmp_path / "p", {"ENGINE": "django.db.backends.sqlite3", "NAME": name})
    assert project.deploy().code == 0
    return project, name


def shop_applied(name):
    return [key for key in applied("sqlite", None, name) if key[0] == "shop"]


def test_circular_dependency_is_refused_naming_the_migrations_in_the_cycle(deployed):
    project, name = deployed
    project.migration("0002_a", CYCLE_A)
    project.migration("0003_b", CYCLE_B)

    deploy, plan = project.deploy(), project.run("plan")

    assert deploy.code == 1, deploy.out + deploy.err
    assert "Traceback" not in deploy.out + deploy.err
    refusal = next(line for line in deploy.out.splitlines() if line.startswith("Refused:"))
    assert "Circular dependency between migrations:" in refusal
    assert "shop.0002_a" in refusal and "shop.0003_b" in refusal
    assert "Break the cycle by editing the dependencies" in refusal
    assert plan.code == 2 and plan.err.count("\n") == 1 and "Circular dependency" in plan.err
    assert shop_applied(name) == [("shop", "0001_initial")]


def test_stale_pyc_without_source_is_refused_not_applied(deployed):
    """A .pyc left where its .py was would be imported and applied by migrate; the deploy refuses it."""
    project, name = deployed
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    source = project.root / "shop" / "migrations" / "0002_note.py"
    stale = source.with_suffix(".pyc")
    py_compile.compile(str(source), cfile=str(stale), doraise=True)
    source.unlink()

    deploy, plan = project.deploy(), project.run("plan")

    assert deploy.code == 1, deploy.out + deploy.err
    assert "Traceback" not in deploy.out + deploy.err
    assert (f"Refused: Migration shop.0002_note has no source file: only {stale} is there"
            in deploy.out), deploy.out
    assert "Delete the .pyc, or restore the .py it was compiled from." in deploy.out
    assert plan.code == 2 and f"only {stale} is there" in plan.err and plan.err.count("\n") == 1
    assert shop_applied(name) == [("shop", "0001_initial")]


def test_compiled_bytecode_beside_its_source_is_harmless(deployed):
    project, name = deployed
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    source = project.root / "shop" / "migrations" / "0002_note.py"
    py_compile.compile(str(source), cfile=str(source.with_suffix(".pyc")), doraise=True)

    result = project.deploy()

    assert result.code == 0, result.out + result.err
    assert shop_applied(name) == [("shop", "0001_initial"), ("shop", "0002_note")]
