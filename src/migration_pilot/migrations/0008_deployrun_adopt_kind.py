from django.db import migrations, models


class Migration(migrations.Migration):
    """`pilot adopt` records a run of kind 'adopt': choices only, no SQL."""

    dependencies = [("migration_pilot", "0007_deployrun_restore_kind")]

    operations = [
        migrations.AlterField(
            model_name="deployrun",
            name="kind",
            field=models.CharField(choices=[("deploy", "Deploy"), ("rollback", "Rollback"), ("restore", "Restore"),
                                            ("adopt", "Adopt")],
                                   max_length=10),
        ),
    ]
