from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("migration_pilot", "0005_impact_keptdefault")]

    operations = [
        migrations.CreateModel(
            name="FleetTenant",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("tenant", models.CharField(max_length=255)),
                ("alias", models.CharField(max_length=100)),
                ("outcome", models.CharField(default="not_attempted", max_length=16)),
                ("applied", models.JSONField(default=list)),
                ("error", models.TextField(blank=True, default="")),
                ("duration_s", models.FloatField(null=True)),
                ("finished_at", models.DateTimeField(null=True)),
                ("run", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="tenants",
                                          to="migration_pilot.deployrun")),
            ],
            options={"db_table": "migration_pilot_fleettenant", "ordering": ["id"]},
        ),
    ]
