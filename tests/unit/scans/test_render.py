"""The reports: combined JSON round trip, SARIF per tool, the markdown summary."""

from __future__ import annotations

import json
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from ci.scans.findings import Finding, Location, Severity, Status, ToolRun
from ci.scans.gate import AllowEntry, Policy, evaluate
from ci.scans.render import combined_json, markdown_summary, read_combined, sarif, sarif_files
from ci.scans.tools import SAFETY_SKIPPED

TODAY = date(2026, 11, 26)
EVAL = Finding("bandit", "B307", Severity.MEDIUM, Location("app/a.py", 9), "eval | x", "f1")
SHELL = Finding("bandit", "B602", Severity.HIGH, Location("app/a.py", 13), "shell", "f2")
JINJA = Finding("pip-audit", "PYSEC-2021-66", Severity.HIGH, Location("pyproject.toml"), "j", "f3")
ACCEPT_JINJA = AllowEntry("Not reachable.", date(2027, 1, 1), fingerprint="f3")
EXPIRED = AllowEntry("Old.", date(2026, 1, 1), rule="B1", path="x.py")
RUNS = [
    ToolRun("bandit", Status.OK, (EVAL, SHELL)),
    ToolRun("pip-audit", Status.OK, (JINJA,)),
    SAFETY_SKIPPED,
]
VERDICT = evaluate(RUNS, Policy(), [ACCEPT_JINJA, EXPIRED], today=TODAY)


def test_sarif_is_one_run_per_tool_with_its_own_category() -> None:
    files = sarif_files(RUNS, VERDICT)
    assert sorted(files) == ["bandit.sarif", "pip-audit.sarif"]  # skipped Safety gets none
    logs = {name: json.loads(text) for name, text in files.items()}
    ids = {log["runs"][0]["automationDetails"]["id"] for log in logs.values()}
    assert ids == {"security/bandit/", "security/pip-audit/"}
    bandit_log = logs["bandit.sarif"]
    assert bandit_log["version"] == "2.1.0"
    (run,) = bandit_log["runs"]
    assert [r["ruleId"] for r in run["results"]] == ["B307", "B602"]
    assert [r["level"] for r in run["results"]] == ["warning", "error"]
    assert run["results"][1]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "app/a.py"},
        "region": {"startLine": 13},
    }
    assert run["tool"]["driver"]["rules"][1] == {
        "id": "B602",
        "properties": {"security-severity": "8.0"},
    }


def test_an_accepted_finding_is_a_suppressed_sarif_result_without_a_region() -> None:
    (result,) = json.loads(sarif(RUNS[1], VERDICT))["runs"][0]["results"]
    assert result["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "Not reachable."}
    ]
    assert "region" not in result["locations"][0]["physicalLocation"]


def test_a_tool_error_is_an_unsuccessful_sarif_invocation() -> None:
    broken = ToolRun("gitleaks", Status.ERROR, detail="exit 1")
    log = json.loads(sarif(broken, evaluate([broken], Policy(), [], today=TODAY)))
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False


def test_combined_json_marks_each_finding_and_lists_expired_entries() -> None:
    body = json.loads(combined_json(RUNS, VERDICT))
    states = [(f["rule"], f["state"]) for t in body["tools"] for f in t["findings"]]
    assert states == [
        ("B307", "below-threshold"),
        ("B602", "blocking"),
        ("PYSEC-2021-66", "accepted"),
    ]
    assert body["passed"] is False
    assert body["expired_allowlist_entries"] == [
        {"match": "B1 at x.py", "expires": "2026-01-01", "reason": "Old."}
    ]


findings = st.builds(
    Finding,
    tool=st.sampled_from(["bandit", "gitleaks", "pip-audit"]),
    rule=st.text(min_size=1, max_size=8),
    severity=st.sampled_from(Severity),
    location=st.builds(Location, st.text(min_size=1), st.none() | st.integers(1, 10_000)),
    message=st.text(),
    fingerprint=st.text(min_size=1, max_size=16),
)


@given(st.lists(findings, max_size=6), st.sampled_from(Status), st.text())
def test_combined_json_round_trips(found: list[Finding], status: Status, detail: str) -> None:
    runs = [ToolRun("bandit", status, tuple(found), detail)]
    verdict = evaluate(runs, Policy(), [], today=TODAY)
    assert read_combined(combined_json(runs, verdict)) == runs


def test_markdown_summary_explains_the_verdict() -> None:
    text = markdown_summary(RUNS, VERDICT, Policy())
    assert text.startswith("## Security scans: ❌ failed\n")
    assert "| bandit | ok | 2 | 1 | 0 | high and above |" in text
    assert "| safety | skipped | 0 | 0 | 0 | high and above |" in text
    assert "- **safety**: SAFETY_API_KEY is not set" in text
    assert "### Blocking findings" in text
    assert "| bandit | high | `B602` | `app/a.py:13` |" in text
    assert "- B1 at x.py: expired 2026-01-01 (Old.)" in text
    assert (
        "- pip-audit `PYSEC-2021-66` at `pyproject.toml` until 2027-01-01: Not reachable." in text
    )
    assert "eval \\| x" in text  # a pipe in a message cannot break the table


def test_informational_findings_are_counted_not_listed() -> None:
    undefined = [  # bandit's UNDEFINED severity
        Finding("bandit", "B999", Severity.INFO, Location("app/a.py", 1), n, n) for n in ("a", "b")
    ]
    runs = [ToolRun("bandit", Status.OK, tuple(undefined))]
    text = markdown_summary(runs, evaluate(runs, Policy(), [], today=TODAY), Policy())
    assert text.startswith("## Security scans: ✅ passed\n")
    assert "- bandit `B999`: 2" in text
    assert "<details>" not in text


def test_unaudited_dependencies_are_blocking_findings_not_information() -> None:
    unaudited = [
        Finding("pip-audit", "not-audited", Severity.INFO, Location("pyproject.toml"), n, n)
        for n in ("a", "b")
    ]
    runs = [ToolRun("pip-audit", Status.OK, tuple(unaudited))]
    text = markdown_summary(runs, evaluate(runs, Policy(), [], today=TODAY), Policy())
    assert text.startswith("## Security scans: ❌ failed: pip-audit did not audit 2 dependencies\n")
    assert "| pip-audit | ok | 2 | 2 | 0 | high and above |" in text
    assert "### Informational" not in text


def test_a_clean_run_passes_and_says_so() -> None:
    runs = [ToolRun("bandit", Status.OK)]
    text = markdown_summary(runs, evaluate(runs, Policy(), [], today=TODAY), Policy())
    assert text.startswith("## Security scans: ✅ passed\n")
    assert "### " not in text
