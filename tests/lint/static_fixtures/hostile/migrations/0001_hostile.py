"""Every line here would run code if imported; static lint must evaluate none of it."""

import os

from django.core.management import call_command
from django.db import migrations, models
from hostile_project.fields import MoneyField  # a project module: never imported

PAYLOAD = __import__("os").system("touch /tmp/pilot-static-hostile-marker")
EXEC = exec("open('/tmp/pilot-static-hostile-marker', 'w').write('x')")
SUBCLASSES = ().__class__.__bases__[0].__subclasses__()
ENV = os.environ.get("HOME")


class DropEverything(migrations.RunSQL):
    def __init__(self):
        super().__init__(os.environ.get("SQL", "DROP SCHEMA public CASCADE"))


class Migration(migrations.Migration):
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Wallet",
            fields=[
                ("id", models.AutoField(primary_key=True)),
                ("balance", MoneyField(max_digits=10, decimal_places=2)),
                ("label", models.CharField(max_length=PAYLOAD)),
                # Django calls a callable default when it writes the column's SQL.
                ("calls", models.IntegerField(default=call_command)),
            ],
        ),
        migrations.RunSQL(EXEC),
        __import__("os").system("touch /tmp/pilot-static-hostile-marker"),
        migrations.AlterModelOptions(name="wallet", options={"x": SUBCLASSES}),
        models.Field.__init__.__globals__["os"].system("id"),
        DropEverything(),
    ]
