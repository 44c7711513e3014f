"""A stand-in for the pipeline's gitleaks run: the repository's files hold no obvious secret.

The real secret scan is `gitleaks git` over the whole history, in the pipeline (the binary
cannot be fetched here). This checks the working tree against a few of gitleaks' default
rules, and skips the same paths .gitleaks.toml allowlists, read from that file.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from tests.conftest import needs_git_checkout

ROOT = Path(__file__).parents[2]
pytestmark = needs_git_checkout
NOT_PROJECT = (".venv/", ".git/", ".mypy_cache/", ".ruff_cache/", ".pytest_cache/", ".hypothesis/")

RULES = {  # after gitleaks' default rules of the same ids
    "private-key": re.compile(
        r"(?i)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
        r"[\s\S-]{64,}?KEY(?: BLOCK)?-----"
    ),
    "aws-access-token": re.compile(r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b"),
    "github-pat": re.compile(r"ghp_[0-9a-zA-Z]{36}"),
    "github-fine-grained-pat": re.compile(r"github_pat_\w{82}"),
    "slack-bot-token": re.compile(r"xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]*"),
    "pypi-upload-token": re.compile(r"pypi-AgEIcHlwaS5vcmc[\w-]{50,1000}"),
}


def allowlisted_paths() -> list[re.Pattern[str]]:
    config = tomllib.loads((ROOT / ".gitleaks.toml").read_text())
    return [re.compile(p) for p in config["allowlist"]["paths"]]


def project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    skip = allowlisted_paths()
    return [
        p
        for p in listed.split("\0")
        if p and not p.startswith(NOT_PROJECT) and ".egg-info/" not in p
        and not any(s.search(p) for s in skip)
    ]  # fmt: skip


def leaks_in(text: str) -> list[str]:
    return [rule for rule, pattern in RULES.items() if pattern.search(text)]


def test_the_stand_in_rules_catch_what_they_should() -> None:
    fake_aws = "AKIA" + "Z" * 16
    fake_key = (
        "-----BEGIN OPENSSH "
        + "PRIVATE KEY-----\n"
        + "A" * 70
        + "\n-----END OPENSSH PRIVATE KEY-----"
    )
    fake_pat = "ghp_" + "a1" * 18
    assert leaks_in(f"key = '{fake_aws}'\n{fake_key}{fake_pat}") == [
        "private-key",
        "aws-access-token",
        "github-pat",
    ]
    assert leaks_in("AKIA is a prefix; ghp_ too") == []
    short = "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"
    assert leaks_in(short) == []  # gitleaks wants 64+ characters of key body


def test_the_gitleaks_fixtures_are_allowlisted() -> None:
    assert any(p.search("tests/fixtures/scans/gitleaks-report.json") for p in allowlisted_paths())
    assert not any(p.search("ci/scans/gitleaks.py") for p in allowlisted_paths())


def test_no_tracked_or_new_file_holds_a_secret() -> None:
    files = project_files()
    assert "ci/scans/gitleaks.py" in files  # the listing sees the project's own files
    found = {}
    for path in files:
        try:
            text = (ROOT / path).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        if hits := leaks_in(text):
            found[path] = hits
    assert found == {}
