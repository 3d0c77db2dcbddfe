from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_account_status")]
    operations = [
        migrations.CreateModel("Entry", [
            ("id", models.BigAutoField(primary_key=True)),
            ("account", models.ForeignKey("ledger.Account", on_delete=models.CASCADE)),
            ("amount", models.IntegerField()),
        ]),
    ]
