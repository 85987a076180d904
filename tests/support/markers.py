"""Narrow a test to one backend when the database plays no part in what it checks."""

import pytest

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
