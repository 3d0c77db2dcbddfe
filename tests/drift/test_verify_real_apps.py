"""No false positives on the migrations of real applications.

django.contrib (admin, auth, contenttypes, sessions, sites, flatpages,
redirects) on every vendor; wagtail from PyPI on PostgreSQL and MariaDB when
bench/verify's venv exists (python bench/verify/run.py creates it), since
wagtail is not installed in the test venvs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.databases import scratch_database

ROOT = Path(__file__).resolve().parents[2]
# `make test` builds .venv-realapps (wagtail from PyPI beside this project); bench/verify's venv also serves.
WAGTAIL_CANDIDATES = [ROOT / ".venv-realapps" / "bin" / "python", ROOT / "bench" / ".venvs" / "verify" / "bin" / "python"]
WAGTAIL_PY = next((p for p in WAGTAIL_CANDIDATES if p.exists()), WAGTAIL_CANDIDATES[0])
REQUIRED = bool(os.environ.get("MIGRATION_PILOT_REQUIRE_DATABASES"))

CONTRIB = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
           "django.contrib.sessions", "django.contrib.messages", "django.contrib.sites",
           "django.contrib.flatpages", "django.contrib.redirects", "migration_pilot"]
WAGTAIL = ["wagtail.contrib.forms", "wagtail.contrib.redirects", "wagtail.contrib.settings",
           "wagtail.contrib.search_promotions", "wagtail.embeds", "wagtail.sites", "wagtail.users",
           "wagtail.snippets", "wagtail.documents", "wagtail.images", "wagtail.search", "wagtail.admin",
           "wagtail", "modelcluster", "taggit", *CONTRIB]


def _site(root: Path, apps: list[str], database: dict) -> Path:
    (root / "site_settings.py").write_text(textwrap.dedent(f"""
        SECRET_KEY = "x"
        USE_TZ = True
        DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
        BASE_DIR = {str(root)!r}
        INSTALLED_APPS = {apps!r}
        DATABASES = {{"default": {database!r}}}
        ROOT_URLCONF = "site_settings"
        urlpatterns = []
        TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                       "OPTIONS": {{"context_processors": ["django.contrib.auth.context_processors.auth",
                                    "django.contrib.messages.context_processors.messages",
                                    "django.template.context_processors.request"]}}}}]
        MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
                      "django.contrib.auth.middleware.AuthenticationMiddleware",
                      "django.contrib.messages.middleware.MessageMiddleware"]
        STATIC_URL = "/static/"
        WAGTAIL_SITE_NAME = "t"
        WAGTAILADMIN_BASE_URL = "http://localhost"
    """))
    return root


def _run(python: Path | str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"DJANGO_SETTINGS_MODULE": "site_settings", "PYTHONPATH": str(root),
                "MIGRATION_PILOT_CACHE_DIR": str(root / "cache")})
    return subprocess.run([str(python), "-m", "django", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def _verify_clean(python, root, drop_index_sql=None, sql=None):
    migrated = _run(python, root, "migrate", "--no-input", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    result = _run(python, root, "pilot", "verify", "--format", "json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    payload = json.loads(result.stdout)
    assert payload["differences"] == []
    assert payload["applied_migrations"] > 20
    if sql is not None:
        sql()
        drift = _run(python, root, "pilot", "verify", "--format", "json")
        assert drift.returncode == 1, drift.stdout[-3000:] + drift.stderr[-3000:]
        return json.loads(drift.stdout)
    return payload


def test_contrib_apps_verify_clean(vendor, request, tmp_path, scratch_db_access):
    if vendor == "sqlite":
        root = _site(tmp_path, CONTRIB, {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db")})
        _verify_clean(sys.executable, root)
        return
    server = request.getfixturevalue(f"{vendor}_server")
    with scratch_database(server, "pilot_verify") as name:
        _verify_clean(sys.executable, _site(tmp_path, CONTRIB, server.django_settings(name)))


@pytest.mark.parametrize("db_vendor", ["postgresql", "mysql"])
def test_wagtail_verifies_clean_and_finds_a_dropped_index(db_vendor, request, tmp_path, scratch_db_access):
    if not WAGTAIL_PY.exists():
        if REQUIRED:
            pytest.fail("the wagtail venv is missing: 'make test' builds .venv-realapps")
        pytest.skip("wagtail venv missing: 'make realapps' builds .venv-realapps")
    server = request.getfixturevalue(f"{db_vendor}_server")
    if db_vendor == "mysql":
        probe = subprocess.run([str(WAGTAIL_PY), "-c", "import MySQLdb"], capture_output=True, check=False)
        if probe.returncode:
            if REQUIRED:
                pytest.fail("mysqlclient is not installed in the wagtail venv")
            pytest.skip("mysqlclient is not installed in the wagtail venv")
    from tests.databases import admin_connection

    with scratch_database(server, "pilot_verify") as name:
        root = _site(tmp_path, WAGTAIL, server.django_settings(name))

        def drop() -> None:
            with admin_connection(server, name) as conn:
                cursor = conn.cursor()
                if db_vendor == "postgresql":
                    cursor.execute("DROP INDEX wagtailcore_page_first_published_at_2b5dd637")
                else:
                    cursor.execute("DROP INDEX wagtailcore_page_first_published_at_2b5dd637 ON wagtailcore_page")
                cursor.close()

        payload = _verify_clean(WAGTAIL_PY, root, sql=drop)

    assert [(d["kind"], d["table"]) for d in payload["differences"]] == [("missing_index", "wagtailcore_page")]
