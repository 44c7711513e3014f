"""The real bandit on fixture projects and on this project: parsed, gated."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from ci.scans import bandit
from ci.scans.findings import Severity, Status, ToolRun
from ci.scans.gate import Policy, evaluate
from ci.scans.report import load_policy, merge_runs
from ci.scans.tools import SCANNED_CODE

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "scans"
TODAY = date(2026, 11, 26)


def run_bandit(cwd: Path, fmt: str, *targets: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", *targets, "-f", fmt, "-q"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_real_bandit_flags_eval_and_shell_in_the_vulnerable_fixture(fmt: str) -> None:
    code, report = run_bandit(FIXTURES / "vulnerable", fmt, ".")
    assert code == 1  # bandit: findings
    found = bandit.parse_json(report) if fmt == "json" else bandit.parse_sarif(report)
    assert {(f.rule, f.severity, str(f.location)) for f in found} >= {
        ("B307", Severity.MEDIUM, "service.py:9"),
        ("B602", Severity.HIGH, "service.py:13"),
    }
    verdict = evaluate([ToolRun("bandit", Status.OK, tuple(found))], Policy(), [], today=TODAY)
    assert not verdict.passed
    assert [f.rule for f in verdict.blocking] == ["B602"]


def test_real_bandit_json_and_sarif_agree_on_fingerprints() -> None:
    found = [
        ToolRun("bandit", Status.OK, tuple(parse(run_bandit(FIXTURES / "vulnerable", fmt, ".")[1])))
        for fmt, parse in (("json", bandit.parse_json), ("sarif", bandit.parse_sarif))
    ]
    assert found[0].findings == found[1].findings
    assert merge_runs(found) == [found[0]]


def test_real_bandit_finds_nothing_in_the_clean_fixture() -> None:
    code, report = run_bandit(FIXTURES / "clean", "json", ".")
    assert (code, bandit.parse_json(report)) == (0, [])


def test_this_project_passes_its_own_bandit_gate() -> None:
    targets = [t for t in SCANNED_CODE if (ROOT / t).is_dir()]
    code, report = run_bandit(ROOT, "json", *targets)
    assert code in (0, 1), report
    found = bandit.parse_json(report)
    policy, allowlist = load_policy(str(ROOT / "security" / "allowlist.toml"))
    runs = [ToolRun("bandit", Status.OK, tuple(found))]
    verdict = evaluate(runs, policy, allowlist, today=date.today())
    assert verdict.passed, [f"{f.rule} {f.location}: {f.message}" for f in verdict.blocking]
