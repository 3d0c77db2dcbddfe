from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("migration_pilot", "0003_migrationrun_file_sha256")]

    operations = [
        migrations.CreateModel(
            name="BackfillCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200, unique=True)),
                ("table", models.CharField(max_length=255)),
                ("description", models.TextField(blank=True, default="")),
                ("spec", models.JSONField(default=dict)),
                ("state", models.CharField(
                    choices=[("running", "Running"), ("done", "Done"), ("failed", "Failed"),
                             ("interrupted", "Interrupted")],
                    default="running", max_length=12)),
                ("last_key", models.TextField(null=True)),
                ("end_key", models.TextField(null=True)),
                ("rows_total", models.BigIntegerField(null=True)),
                ("rows_scanned", models.BigIntegerField(default=0)),
                ("rows_done", models.BigIntegerField(default=0)),
                ("batches", models.IntegerField(default=0)),
                ("batch_size", models.IntegerField(default=0)),
                ("busy_s", models.FloatField(default=0)),
                ("lock_wait_s", models.FloatField(default=0)),
                ("throttled_s", models.FloatField(default=0)),
                ("started_at", models.DateTimeField()),
                ("updated_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(null=True)),
                ("host", models.CharField(blank=True, default="", max_length=255)),
                ("pid", models.IntegerField(null=True)),
                ("error", models.TextField(blank=True, default="")),
            ],
            options={"db_table": "migration_pilot_backfillcheckpoint", "ordering": ["id"]},
        ),
    ]
