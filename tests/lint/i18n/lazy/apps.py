from django.apps import AppConfig


class Config(AppConfig):
    name = "tests.lint.i18n.lazy"
    label = "pilot_i18n_lazy"
    default_auto_field = "django.db.models.BigAutoField"
