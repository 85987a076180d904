"""The demo federation on one node, prepared once per worker (tests.support.sop_fixtures)."""

from tests.support.sop_fixtures import settings, shared_database, sop

__all__ = ["settings", "shared_database", "sop"]
