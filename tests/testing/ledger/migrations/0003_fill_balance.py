from django.db import migrations


def fill(apps, schema_editor):
    Account = apps.get_model("ledger", "Account")
    for account in Account.objects.using(schema_editor.connection.alias):
        account.balance = len(account.name)
        account.save(update_fields=["balance"], using=schema_editor.connection.alias)


def unfill(apps, schema_editor):
    apps.get_model("ledger", "Account").objects.using(schema_editor.connection.alias).update(balance=0)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_account_balance")]
    operations = [migrations.RunPython(fill, unfill)]
