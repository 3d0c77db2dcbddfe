"""The migrations bench/online applies under traffic, written the way a developer (or makemigrations) writes them.

Every scenario starts from the same 0001_initial (a `Customer` table and a big `Order` table). `setup`
migrations are applied untimed before the traffic starts (for example the nullable column a backfill
fills); the `measured` ones are what each leg applies under traffic. The same files go to every leg;
`models` is the app's models.py after the last migration, so a tool that compares models with
migrations (pilot's missing-migration check) finds nothing missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INITIAL = '''from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Customer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
            ],
        ),
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("reference", models.CharField(max_length=40)),
                ("status", models.CharField(max_length=20)),
                ("quantity", models.IntegerField()),
                ("amount", models.IntegerField()),
                ("note", models.CharField(max_length=100, null=True)),
                ("created", models.DateTimeField()),
            ],
        ),
    ]
'''

# The old code's columns: what the traffic inserts and selects, in this order.
OLD_COLUMNS = ("id", "reference", "status", "quantity", "amount", "note", "created")

BASE_FIELDS = {
    "reference": "models.CharField(max_length=40)",
    "status": "models.CharField(max_length=20)",
    "quantity": "models.IntegerField()",
    "amount": "models.IntegerField()",
    "note": "models.CharField(max_length=100, null=True)",
    "created": "models.DateTimeField()",
}

HEADER = '''from django.db import migrations, models


class Migration(migrations.Migration):
{atomic}
    dependencies = [
        ("shop", "{previous}"),
    ]

    operations = [
{operations}
    ]
'''

ADD_TOTAL = '''        migrations.AddField(
            model_name="order",
            name="total",
            field=models.BigIntegerField(null=True),
        ),'''

BACKFILL_ONE_UPDATE = '''from django.db import migrations
from django.db.models import F


def fill_total(apps, schema_editor):
    Order = apps.get_model("shop", "Order")
    Order.objects.update(total=F("quantity") * F("amount"))


class Migration(migrations.Migration):

    dependencies = [
        ("shop", "0002_order_total"),
    ]

    operations = [
        migrations.RunPython(fill_total, migrations.RunPython.noop),
    ]
'''

# The batched backfill a careful developer writes by hand: keyset windows of 10,000 rows on the
# primary key, each UPDATE committed on its own (atomic = False).
BACKFILL_BATCHED = '''from django.db import migrations, transaction
from django.db.models import F

BATCH = 10_000


def fill_total(apps, schema_editor):
    Order = apps.get_model("shop", "Order")
    last = 0
    while True:
        window = Order.objects.filter(pk__gt=last).order_by("pk")
        edge = list(window.values_list("pk", flat=True)[BATCH - 1:BATCH])
        batch = window.filter(pk__lte=edge[0]) if edge else window
        with transaction.atomic():
            batch.update(total=F("quantity") * F("amount"))
        if not edge:
            break
        last = edge[0]


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("shop", "0002_order_total"),
    ]

    operations = [
        migrations.RunPython(fill_total, migrations.RunPython.noop),
    ]
'''

BACKFILL_PILOT = '''from django.db import migrations
from django.db.models import F

from migration_pilot.operations import Backfill


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("shop", "0002_order_total"),
    ]

    operations = [
        Backfill("order", set={"total": F("quantity") * F("amount")}),
    ]
'''


def one_step(operations: str, *, atomic: bool = True) -> str:
    """A migration after 0001_initial holding `operations` (already indented like makemigrations)."""
    return HEADER.format(previous="0001_initial", operations=operations,
                         atomic="" if atomic else "\n    atomic = False\n")


@dataclass(frozen=True)
class Scenario:
    """One migration (or a setup + the measured migration) and what the app's models look like after it."""

    name: str
    label: str
    measured: tuple[tuple[str, str], ...]
    setup: tuple[tuple[str, str], ...] = ()
    fields: dict[str, str | None] = field(default_factory=dict)  # None removes a base field
    meta: str = ""
    reader: bool = False
    pilot_only: bool = False
    needs: str = ""  # "backfill-op" (migration_pilot.operations.Backfill) or "makesafe" (pilot makesafe)
    note: str = ""

    def models_py(self) -> str:
        """shop/models.py after the scenario's last migration."""
        fields = {**BASE_FIELDS, **self.fields}
        lines = [f"    {name} = {spec}" for name, spec in fields.items() if spec is not None]
        meta = f"\n\n    class Meta:\n        {self.meta}" if self.meta else ""
        return ("from django.db import models\n\n\nclass Customer(models.Model):\n"
                "    name = models.CharField(max_length=100)\n\n\nclass Order(models.Model):\n"
                + "\n".join(lines) + meta + "\n")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "add-index", "AddIndex (plain CREATE INDEX)",
        (("0002_order_status_idx", one_step('''        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["status"], name="order_status_idx"),
        ),''')),),
        meta='indexes = [models.Index(fields=["status"], name="order_status_idx")]',
    ),
    Scenario(
        "set-not-null", "AlterField null -> NOT NULL",
        (("0002_alter_order_note", one_step('''        migrations.AlterField(
            model_name="order",
            name="note",
            field=models.CharField(max_length=100),
        ),''')),),
        fields={"note": "models.CharField(max_length=100)"},
    ),
    Scenario(
        "add-fk", "AddField ForeignKey",
        (("0002_order_customer", HEADER.format(previous="0001_initial", atomic="", operations='''        migrations.AddField(
            model_name="order",
            name="customer",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, to="shop.customer"),
        ),''').replace("from django.db import migrations, models\n",
                       "from django.db import migrations, models\nimport django.db.models.deletion\n")),),
        fields={"customer": "models.ForeignKey(Customer, null=True, on_delete=models.SET_NULL)"},
    ),
    Scenario(
        "int-to-bigint", "AlterField int -> bigint",
        (("0002_alter_order_quantity", one_step('''        migrations.AlterField(
            model_name="order",
            name="quantity",
            field=models.BigIntegerField(),
        ),''')),),
        fields={"quantity": "models.BigIntegerField()"},
        note="the one error the issue allows: each prepared-statement connection may fail once"
             " ('cached plan must not change result type')",
    ),
    Scenario(
        "add-field-default-not-null", "AddField(default=0) NOT NULL",
        (("0002_order_priority", one_step('''        migrations.AddField(
            model_name="order",
            name="priority",
            field=models.IntegerField(default=0),
        ),''')),),
        fields={"priority": "models.IntegerField(default=0)"},
        note="old code's INSERTs (without the new column) fail once the default is dropped",
    ),
    Scenario(
        "nullable-add-field", "nullable AddField (the floor: a change every tool runs online)",
        (("0002_order_comment", one_step('''        migrations.AddField(
            model_name="order",
            name="comment",
            field=models.CharField(max_length=200, null=True),
        ),''')),),
        fields={"comment": "models.CharField(max_length=200, null=True)"},
    ),
    Scenario(
        "nullable-add-field-behind-reader", "nullable AddField behind one 20 s read transaction",
        (("0002_order_comment", one_step('''        migrations.AddField(
            model_name="order",
            name="comment",
            field=models.CharField(max_length=200, null=True),
        ),''')),),
        fields={"comment": "models.CharField(max_length=200, null=True)"},
        reader=True,
    ),
    Scenario(
        "unique-constraint", "AddConstraint UniqueConstraint",
        (("0002_order_order_reference_uniq", one_step('''        migrations.AddConstraint(
            model_name="order",
            constraint=models.UniqueConstraint(fields=("reference",), name="order_reference_uniq"),
        ),''')),),
        meta='constraints = [models.UniqueConstraint(fields=["reference"], name="order_reference_uniq")]',
    ),
    Scenario(
        "check-constraint", "AddConstraint CheckConstraint",
        (("0002_order_order_amount_gte_0", one_step('''        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(condition=models.Q(("amount__gte", 0)), name="order_amount_gte_0"),
        ),''')),),
        meta='constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0), name="order_amount_gte_0")]',
    ),
    Scenario(
        "backfill-one-update", "backfill as one UPDATE (RunPython .update())",
        (("0003_fill_order_total", BACKFILL_ONE_UPDATE),),
        setup=(("0002_order_total", one_step(ADD_TOTAL)),),
        fields={"total": "models.BigIntegerField(null=True)"},
    ),
    Scenario(
        "backfill-batched-by-hand", "backfill in 10,000-row committed batches, by hand",
        (("0003_fill_order_total", BACKFILL_BATCHED),),
        setup=(("0002_order_total", one_step(ADD_TOTAL)),),
        fields={"total": "models.BigIntegerField(null=True)"},
    ),
    Scenario(
        "backfill-pilot", "backfill with pilot's Backfill operation",
        (("0003_fill_order_total", BACKFILL_PILOT),),
        setup=(("0002_order_total", one_step(ADD_TOTAL)),),
        fields={"total": "models.BigIntegerField(null=True)"},
        pilot_only=True, needs="backfill-op",
    ),
    Scenario(
        "rename-makesafe", "RenameField after `pilot makesafe`",
        (("0002_rename_note_remark", one_step('''        migrations.RenameField(
            model_name="order",
            old_name="note",
            new_name="remark",
        ),''')),),
        fields={"note": None, "remark": "models.CharField(max_length=100, null=True)"},
        pilot_only=True, needs="makesafe",
    ),
    Scenario(
        "type-change-makesafe", "AlterField int -> bigint after `pilot makesafe`",
        (("0002_alter_order_quantity", one_step('''        migrations.AlterField(
            model_name="order",
            name="quantity",
            field=models.BigIntegerField(),
        ),''')),),
        fields={"quantity": "models.BigIntegerField()"},
        pilot_only=True, needs="makesafe",
    ),
)
