"""The example shop serves no pages: it exists for its models and migrations."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
