from django.apps import AppConfig


class LedgerConfig(AppConfig):
    """A small app whose migrations cover schema changes, data migrations and a lossy reverse."""

    name = "tests.testing.ledger"
    label = "ledger"
    default_auto_field = "django.db.models.BigAutoField"
