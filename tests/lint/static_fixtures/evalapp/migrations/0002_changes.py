import django.utils.timezone
from django.db import migrations, models

BACKFILL_SQL = "UPDATE static_evalapp_invoice SET code = 'x' || id"


def fill_codes(apps, schema_editor):
    Invoice = apps.get_model("static_evalapp", "Invoice")
    for invoice in Invoice.objects.all():
        invoice.code = f"x{invoice.pk}"
        invoice.save()


class Migration(migrations.Migration):
    dependencies = [("static_evalapp", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="invoice", name="code", field=models.CharField(max_length=40, null=True),
        ),
        migrations.AlterField(
            model_name="invoice", name="status", field=models.CharField(max_length=40, db_index=True),
        ),
        migrations.RemoveField(model_name="invoice", name="note"),
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(fields=["total", "-id"], name="invoice_total_idx"),
        ),
        migrations.RunPython(fill_codes, migrations.RunPython.noop),
        migrations.RunSQL(BACKFILL_SQL + ";", reverse_sql=migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(condition=models.Q(total__gte=0),
                                              name="invoice_total_positive"),
        ),
        migrations.AddField(
            model_name="invoice", name="created",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
    ]
