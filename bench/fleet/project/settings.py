"""django-tenants' documented layout: shared apps in public, the tenant app in every tenant schema."""

import os

SECRET_KEY = "bench"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
BASE_DIR = os.path.dirname(os.path.abspath(__file__))

DATABASES = {
    "default": {
        "ENGINE": "django_tenants.postgresql_backend",
        "NAME": os.environ.get("FLEET_BENCH_DB", "pilot_bench_fleet"),
        "USER": os.environ.get("FLEET_BENCH_USER", "postgres"),
        "PASSWORD": os.environ.get("FLEET_BENCH_PASSWORD", ""),
        "HOST": os.environ.get("FLEET_BENCH_HOST", "127.0.0.1"),
        "PORT": os.environ.get("FLEET_BENCH_PORT", "5432"),
    }
}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
MIDDLEWARE = ["django_tenants.middleware.main.TenantMainMiddleware"]

SHARED_APPS = ["django_tenants", "customers", "django.contrib.contenttypes", "migration_pilot"]
TENANT_APPS = ["django.contrib.contenttypes", "shop"]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "customers.Client"
TENANT_DOMAIN_MODEL = "customers.Domain"
TENANT_MULTIPROCESSING_MAX_PROCESSES = 2
