import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="DeployRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("deploy", "Deploy"), ("rollback", "Rollback")], max_length=10)),
                ("outcome", models.CharField(choices=[("running", "Running"), ("succeeded", "Succeeded"), ("refused", "Refused"), ("rolled_back", "Rolled Back"), ("restored", "Restored"), ("failed", "Failed"), ("interrupted", "Interrupted")], default="running", max_length=12)),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(null=True)),
                ("user", models.CharField(max_length=150)),
                ("host", models.CharField(max_length=255)),
                ("pid", models.IntegerField()),
                ("alias", models.CharField(max_length=100)),
                ("plan", models.JSONField(default=list)),
                ("backup_id", models.CharField(blank=True, default="", max_length=100)),
                ("error", models.TextField(blank=True, default="")),
                ("options", models.JSONField(default=dict)),
            ],
            options={"db_table": "migration_pilot_deployrun", "ordering": ["-id"]},
        ),
        migrations.CreateModel(
            name="MigrationRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("app", models.CharField(max_length=255)),
                ("name", models.CharField(max_length=255)),
                ("backwards", models.BooleanField(default=False)),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(null=True)),
                ("duration_s", models.FloatField(null=True)),
                ("lock_wait_s", models.FloatField(default=0)),
                ("retries", models.IntegerField(default=0)),
                ("rows_affected", models.BigIntegerField(null=True)),
                ("wal_bytes", models.BigIntegerField(null=True)),
                ("statements", models.IntegerField(default=0)),
                ("outcome", models.CharField(default="running", max_length=12)),
                ("error", models.TextField(blank=True, default="")),
                ("run", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="migrations", to="migration_pilot.deployrun")),
            ],
            options={"db_table": "migration_pilot_migrationrun", "ordering": ["id"]},
        ),
    ]
