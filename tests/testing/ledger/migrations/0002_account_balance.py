from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.AddField("account", "balance", models.IntegerField(default=0))]
