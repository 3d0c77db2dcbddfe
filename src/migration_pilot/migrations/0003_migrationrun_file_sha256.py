from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("migration_pilot", "0002_migrationrun_journal")]

    operations = [
        migrations.AddField(
            "migrationrun", "file_sha256",
            models.CharField(max_length=64, blank=True, default="", db_default=""),
        ),
    ]
