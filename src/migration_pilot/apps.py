"""Django app configuration for migration_pilot."""

from __future__ import annotations

from django.apps import AppConfig


class MigrationPilotConfig(AppConfig):
    """Registers the `pilot` management command; holds no models yet."""

    name = "migration_pilot"
    verbose_name = "Migration pilot"
    default_auto_field = "django.db.models.BigAutoField"
