"""Run history: every deploy and rollback, and every migration it ran, in the deployed database.

Kept in the database itself (created by this app's own migration) so the
history travels with the data: a restore brings back the history of the
state it restores, and `pilot history` answers from the database it is about.
"""

from __future__ import annotations

from django.db import models


class DeployRun(models.Model):
    """One `pilot deploy`, `rollback`, `restore` or `adopt` against one database alias."""

    class Kind(models.TextChoices):
        DEPLOY = "deploy"
        ROLLBACK = "rollback"
        RESTORE = "restore"
        ADOPT = "adopt"

    class Outcome(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        REFUSED = "refused"
        ROLLED_BACK = "rolled_back"
        RESTORED = "restored"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    user = models.CharField(max_length=150)
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    alias = models.CharField(max_length=100)
    plan = models.JSONField(default=list)
    backup_id = models.CharField(max_length=100, blank=True, default="")
    error = models.TextField(blank=True, default="")
    options = models.JSONField(default=dict)

    class Meta:
        db_table = "migration_pilot_deployrun"
        ordering = ["-id"]


class MigrationRun(models.Model):
    """One migration applied or unapplied within a DeployRun."""

    run = models.ForeignKey(DeployRun, on_delete=models.CASCADE, related_name="migrations")
    app = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    backwards = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    duration_s = models.FloatField(null=True)
    lock_wait_s = models.FloatField(default=0)
    retries = models.IntegerField(default=0)
    rows_affected = models.BigIntegerField(null=True)
    wal_bytes = models.BigIntegerField(null=True)
    statements = models.IntegerField(default=0)
    outcome = models.CharField(max_length=12, default="running")
    error = models.TextField(blank=True, default="")
    # Journal for databases without transactional DDL: operations finished so far, and
    # whether a failure left some of them applied (cleared when they are undone).
    steps_done = models.IntegerField(default=0, db_default=0)
    dirty = models.BooleanField(default=False, db_default=False)
    # SHA-256 of the migration file as it was applied, so a later edit can be noticed (D9).
    file_sha256 = models.CharField(max_length=64, blank=True, default="", db_default="")
    # What the application felt while it ran (the impact monitor's report), where it was sampled.
    impact = models.JSONField(null=True)

    class Meta:
        db_table = "migration_pilot_migrationrun"
        ordering = ["id"]


class BackfillCheckpoint(models.Model):
    """How far one batched backfill got: committed in the same transaction as each batch.

    A batch and its checkpoint update commit together, so after a crash the
    checkpoint names exactly the last key whose rows are done; a resume starts
    after it and no row is processed twice.
    """

    class State(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    name = models.CharField(max_length=200, unique=True)
    table = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    # How to run it again from the command line (ad-hoc backfills); empty for operations.
    spec = models.JSONField(default=dict)
    state = models.CharField(max_length=12, choices=State.choices, default=State.RUNNING)
    # Primary keys as text (the pk field's to_python reads them back): any orderable type fits.
    last_key = models.TextField(null=True)
    end_key = models.TextField(null=True)
    rows_total = models.BigIntegerField(null=True)
    rows_scanned = models.BigIntegerField(default=0)
    rows_done = models.BigIntegerField(default=0)
    batches = models.IntegerField(default=0)
    batch_size = models.IntegerField(default=0)
    busy_s = models.FloatField(default=0)
    lock_wait_s = models.FloatField(default=0)
    throttled_s = models.FloatField(default=0)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    host = models.CharField(max_length=255, blank=True, default="")
    pid = models.IntegerField(null=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "migration_pilot_backfillcheckpoint"
        ordering = ["id"]


class KeptDefault(models.Model):
    """A database default the online form kept on a new NOT NULL column for the code still running.

    Django drops the default right after adding the column; the old code, which
    does not know the column, then fails every INSERT until the new release is
    out. The deploy keeps it and `pilot deploy --phase post` drops it once the
    new code runs everywhere; until then verify expects it.
    """

    run = models.ForeignKey(DeployRun, on_delete=models.CASCADE, related_name="kept_defaults")
    table = models.CharField(max_length=255)
    column = models.CharField(max_length=255)
    migration = models.CharField(max_length=511)
    kept_at = models.DateTimeField()
    dropped_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "migration_pilot_keptdefault"
        ordering = ["id"]


class FleetTenant(models.Model):
    """One tenant (schema or database alias) of a `pilot deploy --fleet` run, and how it ended there.

    Written to the history of the alias the fleet run is recorded in (its shared
    schema), one row per tenant, so `--resume` touches only what is not done and
    `pilot history --fleet` answers which tenant is where.
    """

    run = models.ForeignKey(DeployRun, on_delete=models.CASCADE, related_name="tenants")
    tenant = models.CharField(max_length=255)
    alias = models.CharField(max_length=100)
    # migrated, at_head, failed, not_attempted, prepared, rolled_back, missing_history
    outcome = models.CharField(max_length=16, default="not_attempted")
    applied = models.JSONField(default=list)
    error = models.TextField(blank=True, default="")
    duration_s = models.FloatField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "migration_pilot_fleettenant"
        ordering = ["id"]
