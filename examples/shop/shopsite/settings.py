"""Settings for the example shop project bundled with django-migration-pilot.

SQLite by default (``db.sqlite3`` next to ``manage.py``, or the file named by
``SHOP_SQLITE_PATH``). Set ``DATABASE_URL`` to run against a real server, e.g.
``postgres://postgres@127.0.0.1:5432/shop`` or ``mysql://root@127.0.0.1:3306/shop``
(``mariadb://`` is accepted as an alias of ``mysql://``).
"""

import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent

# A fixed development key: this project is an example and never serves traffic.
SECRET_KEY = "django-insecure-migration-pilot-example-shop-not-for-production"
DEBUG = True
ALLOWED_HOSTS: list[str] = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "migration_pilot",
    "customers",
    "orders",
    "billing",
]

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "shopsite.urls"


def _database() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        # Imported here so that the SQLite default works without dj-database-url.
        import dj_database_url

        if url.startswith("mariadb://"):
            url = "mysql://" + url.removeprefix("mariadb://")
        return dict(dj_database_url.parse(url))
    sqlite_path = os.environ.get("SHOP_SQLITE_PATH", "").strip()
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": Path(sqlite_path) if sqlite_path else BASE_DIR / "db.sqlite3",
    }


DATABASES = {"default": _database()}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
