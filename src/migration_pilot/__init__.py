"""django-migration-pilot: lint, plan, back up, deploy and verify Django migrations safely.

The public API is small on purpose: the commands are the product, and these
functions are what they call.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
