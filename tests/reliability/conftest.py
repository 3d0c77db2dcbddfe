"""The pipeline fixtures (deployable: SQLite, PostgreSQL, MariaDB) for the reliability proofs."""

from tests.pipeline.conftest import deployable, vendor  # noqa: F401 (fixtures)
