"""Settings shared by every test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The pipeline's test stage runs the suite on the source without .git (gitleaks, in the scan
# stage, is what reads the history there): tests that ask git about the checkout skip then.
needs_git_checkout = pytest.mark.skipif(
    not (REPO_ROOT / ".git").exists() or shutil.which("git") is None,
    reason="needs a git checkout and git (the pipeline's test stage has neither: its scan "
    "stage runs gitleaks over the history instead)",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
