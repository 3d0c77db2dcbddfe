"""A1: a second deploy that waits for the lock while the first one runs, then finds nothing to do.

Rolling deploys start `pilot deploy` on every replica at once. The one that
loses the lock race must wait for the winner (within --wait), re-read the
history once it holds the lock, and exit 0 with nothing applied: no DDL of
its own, no duplicate history row.
"""

from __future__ import annotations

import time

from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, SLOW, wait_until


def test_waiter_waits_while_the_first_deploy_runs_then_has_nothing_to_do(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_slow", SLOW.format(seconds=3))
    project.models(NOTE_FIELDS)
    first = project.start("deploy", "--no-backup")
    wait_until(lambda: ("shop", "0002_note") in applied(vendor, server, name))

    # Started while the first deploy is inside 0003_slow, holding the lock.
    assert ("shop", "0003_slow") not in applied(vendor, server, name)
    started = time.monotonic()
    waiter = project.start("deploy", "--no-backup", "--wait", "60s")
    out, err = waiter.communicate(timeout=90)
    waited = time.monotonic() - started
    first_out, first_err = first.communicate(timeout=60)

    assert first.returncode == 0, first_out + first_err
    assert waiter.returncode == 0, out + err
    assert "Nothing to deploy" in out, out
    assert "Applying" not in out
    # It waited out the rest of 0003_slow's 3 s instead of failing at once or applying anything.
    assert ("shop", "0003_slow") in applied(vendor, server, name)
    assert 1 < waited < 60
    rows = query(vendor, server, name, "SELECT app, name, count(*) FROM django_migrations GROUP BY app, name")
    assert all(count == 1 for _, _, count in rows)
    runs = project.history()
    # One run applied 0002 and 0003; the waiter's run (if it records one) applied nothing.
    applying = [r for r in runs if any(m["outcome"] == "applied" for m in r["migrations"])]
    assert sorted(m["name"] for m in applying[0]["migrations"]) == ["0002_note", "0003_slow"]
    assert sum(1 for r in runs for m in r["migrations"] if m["name"] == "0003_slow") == 1
