from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("migration_pilot", "0004_backfill_checkpoint")]

    operations = [
        migrations.AddField("migrationrun", "impact", models.JSONField(null=True)),
        migrations.CreateModel(
            name="KeptDefault",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("table", models.CharField(max_length=255)),
                ("column", models.CharField(max_length=255)),
                ("migration", models.CharField(max_length=511)),
                ("kept_at", models.DateTimeField()),
                ("dropped_at", models.DateTimeField(null=True)),
                ("run", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="kept_defaults",
                                          to="migration_pilot.deployrun")),
            ],
            options={"db_table": "migration_pilot_keptdefault", "ordering": ["id"]},
        ),
    ]
