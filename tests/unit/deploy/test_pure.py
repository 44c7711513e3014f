"""The deployer's pure modules import no I/O library (their tests are tables of text)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
PURE = ("config.py", "commands.py", "ledger.py", "proxy.py", "layout.py", "canary_policy.py")
IO_LIBRARIES = {"asyncssh", "httpx", "dagger", "anyio", "subprocess", "socket"}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io(module: str) -> None:
    assert imported(DEPLOY / module) & IO_LIBRARIES == set()
