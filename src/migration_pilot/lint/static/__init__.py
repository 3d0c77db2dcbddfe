"""Static lint: the migration graph built from `ast` alone, never importing a migration file.

Importing a migration module runs its top-level code (S8). Here each file is
parsed, and an allowlisting evaluator (`evaluate.py`) builds its Migration
from Django's own operation and field classes; anything else becomes a
placeholder (`placeholders.py`) that rules report as not judged. The result
feeds Django's MigrationLoader (`loader.py`), so the graph, squash
replacements and the lint walk are the ones import mode uses.
"""

from __future__ import annotations

from migration_pilot.lint.static.discover import StaticApp, discover_apps
from migration_pilot.lint.static.loader import StaticMigrationLoader, load_static_graph

__all__ = ["StaticApp", "StaticMigrationLoader", "discover_apps", "load_static_graph"]
