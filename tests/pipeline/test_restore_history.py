"""A restore is a run in the history, and closes the runs the restored rows show as in flight (never resumes them)."""

from __future__ import annotations

import json

from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS


def test_restore_of_a_pre_deploy_backup_supersedes_the_run_that_took_it(deployable):
    project, _vendor, _server, _name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    deployed = project.run("deploy", "--format", "json")  # with its pre-deploy backup, taken mid-run
    assert deployed.code == 0, deployed.out + deployed.err
    run_id, backup_id = (json.loads(deployed.out)[key] for key in ("run_id", "backup_id"))

    restored = project.run("restore", backup_id, "--yes", "--discard-writes")
    dry = project.run("deploy", "--dry-run", "--no-backup")
    runs = {r["id"]: r for r in project.history()}

    assert restored.code == 0, restored.out + restored.err
    restore_run = max(runs)
    assert runs[restore_run]["kind"] == "restore" and runs[restore_run]["outcome"] == "succeeded"
    assert f"Recorded as restore #{restore_run} in the history; closed run(s) #{run_id}" in restored.out
    assert runs[run_id]["outcome"] == "interrupted"
    assert f"superseded by restore #{restore_run} of backup {backup_id}" in runs[run_id]["error"]
    assert "interrupted" not in dry.out.lower() and "Completing it now" not in dry.out
    assert dry.code == 0, dry.out + dry.err
