from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [("static_evalapp", "0001_initial"), ("static_evalapp", "0002_changes")]

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("thirdparty", "0003_tags"),
    ]

    operations = [
        migrations.CreateModel(
            name="Invoice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("status", models.CharField(max_length=40, db_index=True)),
                ("tag", models.ForeignKey(on_delete=models.CASCADE, to="thirdparty.tag")),
            ],
        ),
    ]
