"""Settings of the S8 fixture project; importing them leaves a marker (static lint must not)."""

import os
from pathlib import Path

if os.environ.get("PILOT_S8_SETTINGS_MARKER"):
    Path(os.environ["PILOT_S8_SETTINGS_MARKER"]).write_text("settings imported")

SECRET_KEY = "s8"
USE_TZ = True
INSTALLED_APPS = ["s8shop"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
