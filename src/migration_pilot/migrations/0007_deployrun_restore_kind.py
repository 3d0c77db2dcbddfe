from django.db import migrations, models


class Migration(migrations.Migration):
    """A restore is a run in the history (kind 'restore'): choices only, no SQL."""

    dependencies = [("migration_pilot", "0006_fleettenant")]

    operations = [
        migrations.AlterField(
            model_name="deployrun",
            name="kind",
            field=models.CharField(choices=[("deploy", "Deploy"), ("rollback", "Rollback"), ("restore", "Restore")],
                                   max_length=10),
        ),
    ]
