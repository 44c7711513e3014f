"""`report FILES...`: detection of each saved report, the verdict, the step summary."""

from __future__ import annotations

import io
import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from ci.errors import ScanError
from ci.scans.findings import Status
from ci.scans.parse import detect
from ci.scans.render import combined_json
from ci.scans.report import report_main
from tests.unit.scans.test_render import RUNS, VERDICT

FIXTURES = Path(__file__).parents[2] / "fixtures" / "scans"
TODAY = date(2026, 11, 26)


def run_report(paths: list[Path], tmp_path: Path, allowlist: str = "") -> tuple[int, str]:
    policy = tmp_path / "allowlist.toml"
    policy.write_text(allowlist)
    out = io.StringIO()
    code = report_main([str(p) for p in paths], today=TODAY, out=out, step_summary_path=None,
                       allowlist_path=str(policy))  # fmt: skip
    return code, out.getvalue()


DETECTED = [
    ("gitleaks-report.json", ("gitleaks", "json")),
    ("gitleaks-report.sarif", ("gitleaks", "sarif")),
    ("gitleaks-clean.json", ("gitleaks", "json")),
    ("safety-report.json", ("safety", "json")),
]


@pytest.mark.parametrize(("name", "expected"), DETECTED)
def test_each_saved_report_is_recognised(name: str, expected: tuple[str, str]) -> None:
    assert detect((FIXTURES / name).read_text()) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [("nope", "not a JSON report"), ("{}", "not written by"), ('{"runs": []}', "neither")],
)
def test_unknown_reports_are_refused(text: str, says: str) -> None:
    with pytest.raises(ScanError, match=says):
        detect(text)


def test_secrets_fail_the_gate_and_json_plus_sarif_count_once(tmp_path: Path) -> None:
    code, text = run_report(
        [FIXTURES / "gitleaks-report.json", FIXTURES / "gitleaks-report.sarif"], tmp_path
    )
    assert code == 1
    assert "| gitleaks | ok | 2 | 2 | 0 | low and above |" in text
    assert "REDACTED" not in text
    assert "aws_access_key_id" not in text


def test_an_accepted_secret_passes_until_its_entry_expires(tmp_path: Path) -> None:
    entries = "".join(
        f'[[accept]]\nfingerprint = "{fp}"\nreason = "Fixture key, revoked."\nexpires = {{}}\n'
        for fp in (
            "1111111111111111111111111111111111111111:deploy/settings.py:aws-access-token:12",
            "2222222222222222222222222222222222222222:deploy/keys/id_fixture:private-key:1",
        )
    )
    report = [FIXTURES / "gitleaks-report.json"]
    assert run_report(report, tmp_path, entries.format("2026-11-26", "2026-11-26"))[0] == 0
    code, text = run_report(report, tmp_path, entries.format("2026-11-25", "2026-11-25"))
    assert code == 1
    assert "### Expired allowlist entries (no longer counted)" in text


def test_clean_reports_pass(tmp_path: Path) -> None:
    assert run_report([FIXTURES / "gitleaks-clean.json"], tmp_path)[0] == 0


def test_the_combined_report_keeps_skips_and_errors(tmp_path: Path) -> None:
    saved = tmp_path / "security-findings.json"
    saved.write_text(combined_json(RUNS, VERDICT))
    code, text = run_report([saved], tmp_path)
    assert code == 1
    assert "- **safety**: SAFETY_API_KEY is not set" in text
    body = json.loads(saved.read_text())
    body["tools"][0]["status"] = Status.ERROR.value
    body["tools"][0]["findings"] = []
    body["tools"][0]["detail"] = "bandit exited 2"
    saved.write_text(json.dumps(body))
    code, text = run_report([saved], tmp_path)
    assert code == 1
    assert "- **bandit**: bandit exited 2" in text


def test_unreadable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "bandit.json"
    broken.write_text('{"errors": [], "metrics": {}, "results": [{"test_id": "B1"}]}')
    assert run_report([broken], tmp_path)[0] == 2
    assert run_report([tmp_path / "missing.json"], tmp_path)[0] == 2
    assert run_report([FIXTURES / "gitleaks-clean.json"], tmp_path, "[[accept]")[0] == 2
    assert (
        "bandit.json: the bandit report does not have the expected shape" in capsys.readouterr().err
    )


def test_the_summary_goes_to_the_step_summary_when_asked(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    shutil.copy(FIXTURES / "safety-report.json", tmp_path / "safety.json")
    out = io.StringIO()
    code = report_main([str(tmp_path / "safety.json")], today=TODAY, out=out,
                       step_summary_path=str(summary))  # fmt: skip
    assert code == 1
    assert out.getvalue() == "security gate: failed\n"
    written = summary.read_text()
    assert written.startswith("earlier step\n## Security scans: ❌ failed")
    assert "`39525`" in written


def test_no_files_is_unreadable_input() -> None:
    assert report_main([], today=TODAY, step_summary_path=None) == 2


NOT_AUDITED = FIXTURES / "pip-audit-not-audited.json"  # pip-audit 2.10.1 here: exit 0, 14 skips
ACCEPT_UNAUDITED = """
[[accept]]
tool = "pip-audit"
rule = "not-audited"
path = "pyproject.toml"
reason = "PyPI's vulnerability API is unreachable from this runner."
expires = {}
"""


def test_an_audit_that_audited_nothing_fails_and_says_so_first(tmp_path: Path) -> None:
    code, text = run_report([NOT_AUDITED], tmp_path)
    assert code == 1
    assert text.splitlines()[0] == (
        "## Security scans: ❌ failed: pip-audit did not audit 14 dependencies"
    )
    assert "| pip-audit | info | `not-audited` | `pyproject.toml` | fastapi was not audited" in text


def test_an_accepted_gap_passes_and_the_first_line_still_says_so(tmp_path: Path) -> None:
    code, text = run_report([NOT_AUDITED], tmp_path, ACCEPT_UNAUDITED.format("2026-12-31"))
    assert code == 0
    assert text.splitlines()[0] == (
        "## Security scans: ✅ passed, but pip-audit did not audit 14 dependencies "
        "(accepted by the allowlist until 2026-12-31)"
    )
    code, text = run_report([NOT_AUDITED], tmp_path, ACCEPT_UNAUDITED.format("2026-11-25"))
    assert code == 1
    assert text.startswith("## Security scans: ❌ failed: pip-audit did not audit 14")


def test_the_step_summary_console_line_names_the_gap(tmp_path: Path) -> None:
    out = io.StringIO()
    empty = tmp_path / "allowlist.toml"  # not the repository's: a user may accept the gap there
    empty.write_text("")
    code = report_main([str(NOT_AUDITED)], today=TODAY, out=out, allowlist_path=str(empty),
                       step_summary_path=str(tmp_path / "summary.md"))  # fmt: skip
    assert code == 1
    assert out.getvalue() == "security gate: failed: pip-audit did not audit 14 dependencies\n"


def test_report_json_prints_the_combined_document_and_keeps_the_exit_code(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    empty = tmp_path / "allowlist.toml"
    empty.write_text("")
    code = report_main([str(NOT_AUDITED)], today=TODAY, out=out, allowlist_path=str(empty),
                       step_summary_path=str(tmp_path / "summary.md"), as_json=True)  # fmt: skip
    document = json.loads(out.getvalue())
    assert code == 1
    assert (document["schema"], document["passed"]) == ("shipyard-security/1", False)
    assert [tool["tool"] for tool in document["tools"]] == ["pip-audit"]
    assert "did not audit" in (tmp_path / "summary.md").read_text()
