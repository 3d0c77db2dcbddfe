"""Which apps a graph command works on: those named, else the project's own (as `pilot lint` picks)."""

from __future__ import annotations

from collections.abc import Sequence

from migration_pilot.conf import load_config
from migration_pilot.lint.engine import build_selection
from migration_pilot.loader import LoadedGraph


def select_apps(loaded: LoadedGraph, labels: Sequence[str]) -> list[str]:
    """The named apps (unknown ones raise UnknownAppError), else every project app with migrations."""
    selection, _skipped = build_selection(loaded, load_config(), app_labels=labels)
    return sorted(selection.apps)
