"""The dev extra's command-line linters, found beside this interpreter or on PATH."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def dev_tool(name: str) -> str:
    """A dev extra's binary on PATH or beside this interpreter (a venv's bin/ need not be on
    PATH); skipped outside CI when missing, a failure in CI."""
    beside = Path(sys.executable).parent / name
    found = shutil.which(name) or (str(beside) if beside.is_file() else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed and CI is set: pip install -e '.[dev]'.")
        pytest.skip(f"{name} is not installed: pip install -e '.[dev]' to run this check.")
    return found
