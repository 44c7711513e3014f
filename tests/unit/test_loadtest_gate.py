"""The load gate for real: Locust in its own process against servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ci.main import main
from loadtest.config import SETTINGS
from loadtest.thresholds import EXIT_ERROR, EXIT_FAILURE_RATIO, EXIT_P95, EXIT_PASSED
from tests.unit.loadtest_targets import QUICK_ARGS, app_server, stub_server

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.loadtest


@pytest.fixture(autouse=True)
def no_loadtest_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*(setting.variable for setting in SETTINGS), "GITHUB_STEP_SUMMARY",
                 "CI_REPORTS_DIR"):
        monkeypatch.delenv(name, raising=False)


def load(
    url: str, reports: Path, *extra: str, cwd: Path = ROOT
) -> tuple[int, dict[str, Any], str]:
    """`python -m loadtest` as the pipeline runs it (from the repository `cwd`): exit code,
    JSON line, stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "loadtest", "--url", url, *QUICK_ARGS, "--reports", str(reports),
         *extra], capture_output=True, text=True, cwd=cwd, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return done.returncode, json.loads(lines[0]), done.stderr


def test_the_service_itself_passes_and_leaves_its_reports(tmp_path: Path) -> None:
    with app_server() as url:
        code, record, _ = load(url, tmp_path / "reports")
    assert (code, record["passed"], record["breached"]) == (EXIT_PASSED, True, [])
    assert record["requests"] > 0
    assert record["failures"] == 0
    assert 0 < record["p95_ms"] < 500
    assert {p.name for p in (tmp_path / "reports").iterdir()} == {
        "summary.json", "stats.csv", "failures.csv", "report.html"}
    stats = (tmp_path / "reports" / "stats.csv").read_text()
    assert "/health" in stats
    assert "/version" in stats
    assert json.loads((tmp_path / "reports" / "summary.json").read_text()) == record


def test_a_target_answering_500_fails_on_the_failure_ratio(tmp_path: Path) -> None:
    with stub_server(status=500) as url:
        code, record, stderr = load(url, tmp_path)
    assert code == EXIT_FAILURE_RATIO
    assert record["failure_ratio"] == 1.0
    assert record["breached"] == ["failure ratio"]
    assert "failure ratio 100.00 % is not below 1.00 %" in stderr
    assert "500" in (tmp_path / "failures.csv").read_text()


def test_nothing_listening_is_an_error_not_a_verdict(tmp_path: Path) -> None:
    with stub_server() as url:
        pass  # the port was just released: nothing listens there now
    code, record, stderr = load(url, tmp_path)
    assert code == EXIT_ERROR
    assert "cannot be reached" in record["verdict"]
    assert "is the service up" in stderr


def test_ci_loadtest_fails_a_slow_target_on_p95_with_the_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("CI_REPORTS_DIR", str(tmp_path / "reports"))
    with stub_server(delay_s=0.6) as url:
        code = main(["loadtest", "--url", url, *QUICK_ARGS])
    assert code == EXIT_P95
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert record["breached"] == ["p95"]
    assert record["p95_ms"] >= 600
    assert f"p95 {record['p95_ms']:g} ms is not below 500 ms" in err
    assert (tmp_path / "reports" / "loadtest" / "report.html").exists()
    written = summary.read_text()
    assert "**Load-test gate: failed (exit 11)**" in written
    assert "p95 < 500 ms" in written


TEMPLATE_HEALTH = "/api/v1/utils/health-check/"


def template_repository(root: Path) -> Path:
    """A repository whose service answers `true` on its own health path (shipyard.toml)."""
    (root / ".git").mkdir(parents=True)
    (root / "shipyard.toml").write_text(
        f'[health]\npath = "{TEMPLATE_HEALTH}"\nexpect = true\n'
        f'[load]\npaths = {{ "{TEMPLATE_HEALTH}" = 1, "/api/v1/items/" = 1 }}\n'
    )
    return root


def test_a_declared_service_is_loaded_on_its_own_paths(tmp_path: Path) -> None:
    repository = template_repository(tmp_path / "repo")
    with stub_server(body=b"true") as url:
        code, record, _ = load(url, tmp_path / "reports", cwd=repository)
    assert (code, record["failures"]) == (EXIT_PASSED, 0)
    stats = (tmp_path / "reports" / "stats.csv").read_text()
    assert TEMPLATE_HEALTH in stats
    assert "/api/v1/items/" in stats
    assert "/health," not in stats
    assert "/version" not in stats


def test_a_health_answer_off_its_contract_under_load_is_a_failure(tmp_path: Path) -> None:
    repository = template_repository(tmp_path / "repo")
    with stub_server(body=b"false") as url:
        code, record, _ = load(url, tmp_path / "reports", cwd=repository)
    assert code == EXIT_FAILURE_RATIO
    assert 0.2 < record["failure_ratio"] < 0.8  # the health path fails, the items path not
    assert "answered false, not true" in (tmp_path / "reports" / "failures.csv").read_text()


def test_a_bad_declaration_stops_the_gate_before_any_request(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    (repository / "shipyard.toml").write_text('[load]\npaths = { "health" = 1 }\n')
    with stub_server() as url:
        done = subprocess.run(
            [sys.executable, "-m", "loadtest", "--url", url, *QUICK_ARGS, "--reports",
             str(tmp_path / "reports")], capture_output=True, text=True, cwd=repository,
            timeout=60, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    assert done.returncode == 2
    assert "shipyard.toml: load.paths: 'health' must start with /" in done.stderr
    assert not (tmp_path / "reports").exists()
