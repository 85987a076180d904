"""A throwaway PostgreSQL cluster for one benchmark run, and databases in it.

The test suite's own code (``tests/support/postgres.py``: initdb and pg_ctl in a temporary
directory, fsync off, as the ``postgres`` user when run as root) imports no pytest, so the
benchmark starts its cluster exactly the way the PostgreSQL tests do.
"""

from __future__ import annotations

import uuid

from tests.support.postgres import create_database, drop_database, throwaway_cluster

__all__ = ["create_database", "drop_database", "new_database", "throwaway_cluster"]


def new_database(admin_url: str, prefix: str) -> str:
    """An empty database on the cluster; ``accord init`` migrates it."""
    return create_database(admin_url, f"{prefix}_{uuid.uuid4().hex[:8]}")
