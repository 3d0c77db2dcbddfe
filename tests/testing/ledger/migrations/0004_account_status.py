from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_fill_balance")]
    operations = [
        migrations.RemoveField("account", "balance"),
        migrations.AddField("account", "status", models.CharField(max_length=10, default="open")),
    ]
