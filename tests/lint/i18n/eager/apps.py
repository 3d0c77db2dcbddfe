from django.apps import AppConfig


class Config(AppConfig):
    name = "tests.lint.i18n.eager"
    label = "pilot_i18n_eager"
    default_auto_field = "django.db.models.BigAutoField"
