from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Ticket",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("state", models.CharField(choices=[("y", "Yes"), ("n", "No")], max_length=1,
                                           verbose_name="Unknown")),
            ],
            options={"verbose_name": "content type"},
        ),
    ]
