"""`python ci/main.py loadtest`: refuses bad input before any load, with the gate's exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.main import main
from loadtest.config import SETTINGS
from loadtest.thresholds import EXIT_ERROR, EXIT_USAGE


@pytest.fixture(autouse=True)
def no_loadtest_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting.variable, raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("CI_REPORTS_DIR", str(tmp_path / "reports"))


def test_help_lists_the_loadtest_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "    loadtest " in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["loadtest", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "10 failure ratio, 11 p95, 12 p99" in text
    assert "[env LOADTEST_P95_MS]" in text


def test_without_a_url_it_says_how_to_give_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadtest"]) == EXIT_USAGE
    assert "pass --url URL or set LOADTEST_URL" in capsys.readouterr().err


def test_a_bad_variable_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOADTEST_MAX_FAILURE_RATIO", "5")
    assert main(["loadtest", "--url", "http://127.0.0.1:9"]) == EXIT_USAGE
    assert "LOADTEST_MAX_FAILURE_RATIO: '5' is not a ratio" in capsys.readouterr().err


def test_an_unreachable_target_is_an_error_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["loadtest", "--url", "http://127.0.0.1:9"]) == EXIT_ERROR  # discard port
    out, err = capsys.readouterr()
    assert '"exit_code": 1' in out
    assert "load gate FAILED (exit 1)" in err
    assert "cannot be reached" in err
    assert "**Load-test gate: error (exit 1)**" in summary.read_text()
