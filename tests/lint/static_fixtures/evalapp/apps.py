from django.apps import AppConfig


class EvalAppConfig(AppConfig):
    name = "tests.lint.static_fixtures.evalapp"
    label = "static_evalapp"
