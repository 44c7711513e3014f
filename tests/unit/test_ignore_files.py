"""`.env` (it holds SUPABASE_KEY) stays out of git; tests/image checks Docker's context."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import needs_git_checkout

ROOT = Path(__file__).resolve().parents[2]
pytestmark = needs_git_checkout
SECRET_FILES = [".env", ".env.production", "app/.env", "deploy/staging/.env.local"]


@pytest.mark.parametrize("path", SECRET_FILES)
def test_git_ignores_env_files(path: str) -> None:
    done = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index", "-q", path],
                          check=False)  # fmt: skip
    assert done.returncode == 0, f"git would track {path}"


def test_an_example_env_file_may_be_committed() -> None:
    done = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index", "-q",
                           ".env.example"], check=False)  # fmt: skip
    assert done.returncode == 1
