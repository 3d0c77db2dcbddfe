"""A migration whose import runs code: it writes a marker file and calls a loopback listener (S8)."""

import os
import socket
from pathlib import Path

from django.db import migrations, models

if os.environ.get("PILOT_S8_MARKER"):
    Path(os.environ["PILOT_S8_MARKER"]).write_text("migration module imported")
if os.environ.get("PILOT_S8_PORT"):
    with socket.create_connection(("127.0.0.1", int(os.environ["PILOT_S8_PORT"])), timeout=5):
        pass


class Migration(migrations.Migration):
    dependencies = [("s8shop", "0001_initial")]

    operations = [
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(fields=["status"], name="invoice_status_idx"),
        ),
        migrations.RemoveField(model_name="invoice", name="note"),
    ]
