"""The CLIs start quietly: no SSH library for commands that reach no host, no asyncssh DSA
warning printed where one does, and usage naming the command typed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.unit.deploy.test_config import GOOD

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, check=False, env=env)  # fmt: skip


def test_the_clis_import_no_ssh_library_until_a_host_is_reached() -> None:
    done = run("-c", "import sys, ci.main, deploy.cli.main, deploy.release\n"
                     "print('asyncssh' in sys.modules)")  # fmt: skip
    assert done.stdout.strip() == "False", done.stderr


def test_plan_and_version_print_no_warning() -> None:
    plan = ("ci/main.py", "plan", "--ref", "refs/heads/main", "--sha", "0" * 40)  # no git needed
    for argv in (plan, ("ci/main.py", "--version"), ("-m", "deploy", "--help")):
        done = run(*argv)
        assert done.returncode == 0, done.stderr
        assert "Warning" not in done.stderr, argv


def test_reaching_a_host_prints_the_error_but_not_asyncssh_dsa_warning() -> None:
    env = {**os.environ, **GOOD, "STAGING_SSH_PORT": "1"}  # nothing listens on port 1
    done = run("-m", "deploy", "staging", "status", env=env)
    assert done.returncode == 1
    assert "error:" in done.stderr
    assert "CryptographyDeprecationWarning" not in done.stderr
    assert "DSA" not in done.stderr


def test_the_warning_is_not_hidden_outside_the_clis() -> None:
    """Only the CLIs silence it: importing asyncssh elsewhere (tests, a library user) warns."""
    done = run("-W", "default", "-c", "import asyncssh")
    assert "CryptographyDeprecationWarning" in done.stderr


def test_usage_names_python_m_deploy() -> None:
    for argv in (("-m", "deploy", "--help"), ("-m", "deploy", "staging", "--help")):
        done = run(*argv)
        assert done.stdout.startswith("usage: python -m deploy "), done.stdout
    missing = run("-m", "deploy")
    assert missing.returncode == 2
    assert missing.stderr.startswith("usage: python -m deploy ")
