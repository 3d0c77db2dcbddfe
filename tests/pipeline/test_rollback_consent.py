"""E2: a rollback that loses data needs consent, names the run it undoes and the data it loses.

Driven through the console script on real databases, with stdin that is not a
terminal (consent is never assumed there) unless a test gives it a pty.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess

import pytest

from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, FAILING, NOTE_FIELDS, DeployProject, Result


def run(project: DeployProject, *args: str) -> Result:
    """The console script with stdin that is not a terminal, as in CI."""
    done = subprocess.run(project.command(*args), cwd=project.root, capture_output=True, text=True,
                          env=project.env(), timeout=120, check=False, stdin=subprocess.DEVNULL)
    return Result(done.stdout, done.stderr, done.returncode)


def with_notes(deployable, *, notes: int = 2, rows: int = 3, backup: bool = False):
    """shop.0001 deployed, then shop.0002_note with `rows` invoices, `notes` of them with a note."""
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    deployed = project.run("deploy", "--retry-delay", "0.1s") if backup else project.deploy()
    assert deployed.code == 0, deployed.out + deployed.err
    for i in range(rows):
        note = f"'note {i}'" if i < notes else "NULL"
        query(vendor, server, name, f"INSERT INTO shop_invoice (number, amount, note) VALUES ('n{i}', {i}, {note})")
    return project, vendor, server, name


def notes_in(vendor, server, name) -> list[str]:
    return sorted(r[0] for r in query(vendor, server, name, "SELECT note FROM shop_invoice WHERE note IS NOT NULL"))


def test_refuses_to_drop_a_column_holding_values(deployable):
    project, vendor, server, name = with_notes(deployable)
    deploy_id = project.history()[0]["id"]

    refused = run(project, "rollback", "--no-backup")

    assert refused.code == 1, refused.out + refused.err
    assert re.search(rf"Rolling back run #{deploy_id} \(deploy of \d{{4}}-\d\d-\d\d \d\d:\d\d UTC, 1 migration\(s\):"
                     r" shop.0002_note\)\.", refused.out)
    last = refused.out.strip().splitlines()[-1]
    assert last.startswith(f"Refused: rolling back run #{deploy_id} (")
    assert "loses data: shop.0002_note (AddField) drops shop_invoice.note (2 non-null values)." in last
    assert "Pass --accept-data-loss to roll back anyway" in last
    assert ("shop", "0002_note") in applied(vendor, server, name)
    assert notes_in(vendor, server, name) == ["note 0", "note 1"]
    # Refused before anything was recorded: the deploy is still the latest run.
    assert project.history()[0]["id"] == deploy_id


def test_accept_data_loss_drops_the_column(deployable):
    project, vendor, server, name = with_notes(deployable, notes=3, rows=4)

    result = run(project, "rollback", "--no-backup", "--accept-data-loss")

    assert result.code == 0, result.out + result.err
    assert ("Accepted data loss (--accept-data-loss): shop.0002_note (AddField) drops shop_invoice.note"
            " (3 non-null values).") in result.out
    assert "Rolled back 1 migration(s)" in result.out
    assert ("shop", "0002_note") not in applied(vendor, server, name)
    columns = query(vendor, server, name, "SELECT * FROM shop_invoice")
    assert len(columns) == 4 and all(len(row) == 3 for row in columns)  # id, number, amount: note is gone


@pytest.mark.parametrize("vendor", ["sqlite"])  # the zero count on every vendor: tests/analysis/test_reversal.py
def test_an_empty_column_needs_no_consent(deployable):
    project, vendor, server, name = with_notes(deployable, notes=0, rows=2)

    result = run(project, "rollback", "--no-backup")

    assert result.code == 0, result.out + result.err
    assert "Accepted data loss" not in result.out
    assert ("shop", "0002_note") not in applied(vendor, server, name)


@pytest.mark.parametrize("vendor", ["sqlite"])
def test_refusal_names_the_pre_deploy_backup(deployable):
    project, vendor, server, name = with_notes(deployable, notes=1, backup=True)
    backup_id = project.history()[0]["backup_id"]
    assert backup_id

    refused = run(project, "rollback", "--no-backup")

    assert refused.code == 1, refused.out + refused.err
    assert "(1 non-null value)" in refused.out
    assert f"or restore instead: 'pilot restore {backup_id}' (the backup taken before it)." in refused.out


@pytest.mark.parametrize("vendor", ["sqlite"])
def test_rollback_after_a_run_that_left_nothing_names_the_earlier_run(deployable):
    project, vendor, server, name = with_notes(deployable)
    note_id = project.history()[0]["id"]
    project.migration("0003_failing", FAILING)
    failed = project.deploy("--fail-on", "never")
    assert failed.code == 3, failed.out + failed.err
    failed_id = project.history()[0]["id"]

    refused = run(project, "rollback", "--no-backup")

    assert refused.code == 1
    assert (f"Note: the latest run, #{failed_id} (deploy, rolled_back), has nothing still applied to undo: this"
            f" rolls back the earlier run #{note_id}.") in refused.out
    assert f"Refused: rolling back run #{note_id} (" in refused.out


@pytest.mark.parametrize("vendor", ["sqlite"])
def test_rollback_targets_a_stopped_failed_deploy_not_an_earlier_success(deployable):
    """After --on-failure stop, 'pilot rollback' undoes what that run left applied, as its message advises."""
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_failing", FAILING)
    project.models(NOTE_FIELDS)
    stopped = project.deploy("--fail-on", "never", "--on-failure", "stop")
    assert stopped.code == 4, stopped.out + stopped.err
    stopped_id = project.history()[0]["id"]

    result = run(project, "rollback", "--no-backup")

    assert result.code == 0, result.out + result.err
    assert f"Rolling back run #{stopped_id} (deploy of " in result.out
    assert ", failed, 1 migration(s): shop.0002_note)." in result.out
    assert applied(vendor, server, name)[-1] == ("shop", "0001_initial")


NOOP_DATA = '''
from django.db import migrations


def mark(apps, schema_editor):
    apps.get_model("shop", "Invoice").objects.update(amount=42)


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunPython(mark, migrations.RunPython.noop)]
'''


@pytest.mark.parametrize("vendor", ["sqlite"])
def test_noop_reverse_of_a_data_migration_needs_consent(deployable):
    project, vendor, server, name = with_notes(deployable, notes=0, rows=1)
    project.migration("0003_mark", NOOP_DATA)
    assert project.deploy().code == 0

    refused = run(project, "rollback", "--no-backup")

    assert refused.code == 1
    assert ("shop.0003_mark (RunPython) RunPython mark: its data changes are not undone (reverse_code is"
            " RunPython.noop)") in refused.out
    assert ("shop", "0003_mark") in applied(vendor, server, name)


def on_terminal(project: DeployProject, answer: str) -> tuple[int, str, str]:
    """`pilot rollback` with a pty as stdin, answering the prompt with `answer`."""
    main, child = pty.openpty()
    process = subprocess.Popen(project.command("rollback", "--no-backup"), cwd=project.root, env=project.env(),
                               stdin=child, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(child)
    os.write(main, f"{answer}\n".encode())
    out, err = process.communicate(timeout=120)
    os.close(main)
    return process.returncode, out, err


@pytest.mark.parametrize("vendor", ["sqlite"])
def test_terminal_asks_for_consent(deployable):
    project, vendor, server, name = with_notes(deployable)

    declined = on_terminal(project, "no")
    still_applied = ("shop", "0002_note") in applied(vendor, server, name)
    confirmed = on_terminal(project, "yes")

    assert declined[0] == 1, declined
    assert still_applied
    for _code, _out, err in (declined, confirmed):
        assert "loses data: shop.0002_note (AddField) drops shop_invoice.note (2 non-null values)." in err
        assert "Type 'yes' to roll back anyway:" in err
    assert confirmed[0] == 0, confirmed
    assert "Accepted data loss (confirmed at the terminal)" in confirmed[1]
    assert ("shop", "0002_note") not in applied(vendor, server, name)


@pytest.mark.parametrize("vendor", ["sqlite"])
def test_rollback_after_an_interrupt_undoes_the_interrupted_run_it_advised(deployable):
    """The Ctrl-C message names the run 'pilot rollback' undoes, and the rollback then undoes that run."""
    import signal

    from tests.pipeline.project import SLOW, wait_until

    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_slow", SLOW.format(seconds=30))
    project.models(NOTE_FIELDS)
    victim = project.start("deploy", "--no-backup")
    wait_until(lambda: ("shop", "0002_note") in applied(vendor, server, name), timeout=60)
    victim.send_signal(signal.SIGTERM)
    out, err = victim.communicate(timeout=30)
    run_id = project.history()[0]["id"]
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount, note) VALUES ('n', 1, 'kept')")

    refused = run(project, "rollback", "--no-backup")

    assert victim.returncode == 143, out + err
    assert f"'pilot rollback' to undo what this run (#{run_id}) applied (shop.0002_note)." in out
    assert refused.code == 1, refused.out + refused.err
    assert f"Rolling back run #{run_id} (deploy of " in refused.out
    assert ", interrupted, 1 migration(s): shop.0002_note)." in refused.out
    assert "drops shop_invoice.note (1 non-null value)" in refused.out
    assert "Note: the latest run" not in refused.out


REMOVE_NOTE = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RemoveField("invoice", "note")]
'''


def test_plan_shows_what_a_rollback_would_lose(deployable):
    import json

    project, vendor, server, name = with_notes(deployable)
    project.migration("0003_drop_note", REMOVE_NOTE)

    forwards = project.run("plan", "--no-sql")
    as_json = project.run("plan", "--format", "json", "--target", "shop", "0001_initial")

    assert forwards.code == as_json.code == 0, forwards.err + as_json.err
    assert "      rollback: lossy — re-creates shop_invoice.note empty (2 values not restored)" in forwards.out
    ((operation,),) = [m["operations"] for m in json.loads(as_json.out)["migrations"]]
    assert operation["rollback"] == {"kind": "lossy", "what": "drops shop_invoice.note (2 non-null values)",
                                     "count": 2, "loses_data": True}


@pytest.mark.parametrize("vendor", ["sqlite"])
def test_rollback_to_a_migration_needs_consent_too(deployable):
    project, vendor, server, name = with_notes(deployable, notes=1)

    plan = run(project, "plan", "--no-sql", "--target", "shop", "0001_initial")
    refused = run(project, "rollback", "--no-backup", "--to", "shop", "0001_initial")
    dry = run(project, "rollback", "--no-backup", "--to", "shop", "0001_initial", "--dry-run", "--accept-data-loss")
    accepted = run(project, "rollback", "--no-backup", "--to", "shop", "0001_initial", "--accept-data-loss")

    assert "      reverse: lossy — drops shop_invoice.note (1 non-null value)" in plan.out
    assert refused.code == 1, refused.out + refused.err
    assert ("Refused: rolling back to shop 0001_initial loses data: shop.0002_note (AddField) drops"
            " shop_invoice.note (1 non-null value). Pass --accept-data-loss") in refused.out
    assert "or restore instead: 'pilot restore' from a backup taken before it ('pilot backups' lists them)." \
        in refused.out
    assert dry.code == 0, dry.out + dry.err
    assert accepted.code == 0, accepted.out + accepted.err
    assert applied(vendor, server, name)[-1] == ("shop", "0001_initial")
