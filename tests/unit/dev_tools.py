"""The dev extra's command-line linters, found beside this interpreter or on PATH."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def find_dev_tool(name: str) -> str | None:
    """A dev extra's binary on PATH or beside this interpreter (a venv's bin/ need not be on
    PATH); None outside CI when missing, a failure in CI."""
    beside = Path(sys.executable).parent / name
    found = shutil.which(name) or (str(beside) if beside.is_file() else None)
    if found is None and os.environ.get("CI"):
        pytest.fail(f"{name} is not installed and CI is set: pip install -e '.[dev]'.")
    return found


def dev_tool(name: str) -> str:
    """find_dev_tool, skipping the test outside CI when the tool is missing."""
    found = find_dev_tool(name)
    if found is None:
        pytest.skip(f"{name} is not installed: pip install -e '.[dev]' to run this check.")
    return found
