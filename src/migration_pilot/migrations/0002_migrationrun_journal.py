from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("migration_pilot", "0001_initial")]

    operations = [
        migrations.AddField("migrationrun", "steps_done", models.IntegerField(default=0, db_default=0)),
        migrations.AddField("migrationrun", "dirty", models.BooleanField(default=False, db_default=False)),
    ]
