"""The client ships in the wheel and imports nothing of the node, so an agency system can
install it without the server."""

from __future__ import annotations

import ast
import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
NODE_PACKAGES = {"kit", "auth", "contracts", "sop", "services", "migrations"}


def test_the_client_package_is_in_the_wheel() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert any(fnmatch.fnmatch("accord_client", pattern) for pattern in include)


def test_the_client_imports_nothing_of_the_node() -> None:
    for path in (ROOT / "accord_client").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            assert not {n.split(".")[0] for n in names} & NODE_PACKAGES, path
