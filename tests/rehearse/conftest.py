"""The rehearse tests run on the pipeline tests' `deployable` project, once per vendor."""

from __future__ import annotations

from tests.pipeline.conftest import deployable, vendor

__all__ = ["deployable", "vendor"]
