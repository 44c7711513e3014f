"""Each tool's report, parsed: tables of report text and expected findings, and broken reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.errors import ScanError
from ci.scans import bandit, gitleaks, pip_audit, safety
from ci.scans.findings import Finding, Location, Severity, fingerprint, normalize_path

FIXTURES = Path(__file__).parents[2] / "fixtures" / "scans"

# Shapes copied from real `bandit 1.9.4 -f json` / `-f sarif` output, trimmed.
BANDIT_JSON = json.dumps(
    {
        "errors": [],
        "metrics": {},
        "results": [
            {
                "code": "8 def evaluate() -> object:\n9     return eval(input())\n",
                "filename": "./app/service.py",
                "issue_confidence": "HIGH",
                "issue_severity": "MEDIUM",
                "issue_text": "Use of possibly insecure function - consider using safer "
                "ast.literal_eval.",
                "line_number": 9,
                "test_id": "B307",
            }
        ],
    }
)
BANDIT_SARIF = json.dumps(
    {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "Bandit"}},
                "invocations": [{"executionSuccessful": True}],
                "results": [
                    {
                        "message": {
                            "text": "Use of possibly insecure function - consider using safer "
                            "ast.literal_eval."
                        },
                        "locations": [
                            {
                                "physicalLocation": {
                                    "region": {
                                        "snippet": {"text": "    return eval(input())\n"},
                                        "startLine": 9,
                                    },
                                    "artifactLocation": {"uri": "app/service.py"},
                                }
                            }
                        ],
                        "properties": {"issue_confidence": "HIGH", "issue_severity": "MEDIUM"},
                        "ruleId": "B307",
                    }
                ],
            }
        ],
    }
)
# The shape pip-audit 2.10's JsonFormat writes (see tests/scans for the real formatter).
PIP_AUDIT_JSON = json.dumps(
    {
        "dependencies": [
            {
                "name": "jinja2",
                "version": "2.11.2",
                "vulns": [
                    {
                        "id": "PYSEC-2021-66",
                        "fix_versions": ["2.11.3"],
                        "aliases": ["CVE-2020-28493"],
                        "description": "ReDoS in urlize.",
                    },
                    {"id": "GHSA-none", "fix_versions": [], "aliases": [], "description": ""},
                ],
            },
            {"name": "idna", "version": "3.10", "vulns": []},
            {"name": "private-pkg", "skip_reason": "Dependency not found on PyPI"},
        ],
        "fixes": [],
    }
)
B307_MESSAGE = "Use of possibly insecure function - consider using safer ast.literal_eval."
B307 = Finding(
    tool="bandit",
    rule="B307",
    severity=Severity.MEDIUM,
    location=Location("app/service.py", 9),
    message=f"{B307_MESSAGE} (confidence: high)",
    fingerprint=fingerprint("bandit", "B307", "app/service.py", "return eval(input())"),
)

PARSED = [
    (bandit.parse_json, BANDIT_JSON, [B307]),
    (bandit.parse_sarif, BANDIT_SARIF, [B307]),
    (bandit.parse_json, '{"errors": [], "results": []}', []),
    (gitleaks.parse_json, "[]", []),
    (pip_audit.parse_json, '{"dependencies": [], "fixes": []}', []),
]


@pytest.mark.parametrize(("parse", "text", "expected"), PARSED)
def test_parsers_turn_reports_into_findings(
    parse: Callable[[str], list[Finding]], text: str, expected: list[Finding]
) -> None:
    assert parse(text) == expected


def test_pip_audit_vulns_with_a_fix_are_high_and_unaudited_ones_info() -> None:
    found = pip_audit.parse_json(PIP_AUDIT_JSON)
    assert [(f.rule, f.severity) for f in found] == [
        ("PYSEC-2021-66", Severity.HIGH),
        ("GHSA-none", Severity.LOW),
        ("not-audited", Severity.INFO),
    ]
    assert found[0].message == "jinja2 2.11.2: PYSEC-2021-66 (CVE-2020-28493), fixed in 2.11.3"
    assert found[0].location == Location("pyproject.toml")


def test_safety_report_gives_one_finding_per_known_vulnerability() -> None:
    found = safety.parse_json((FIXTURES / "safety-report.json").read_text())
    assert [(f.rule, f.severity, f.location) for f in found] == [
        ("39525", Severity.HIGH, Location("/safety-target/requirements.txt")),
    ]
    assert "recommended upgrade: 3.1.6" in found[0].message
    rooted = safety.parse_json((FIXTURES / "safety-report.json").read_text(), root="/safety-target")
    assert rooted[0].location == Location("requirements.txt")


def test_gitleaks_json_and_sarif_fixtures_give_the_same_findings() -> None:
    from_json = gitleaks.parse_json((FIXTURES / "gitleaks-report.json").read_text())
    from_sarif = gitleaks.parse_sarif((FIXTURES / "gitleaks-report.sarif").read_text())
    assert from_json == from_sarif
    assert [(f.rule, str(f.location), f.severity) for f in from_json] == [
        ("aws-access-token", "deploy/settings.py:12", Severity.CRITICAL),
        ("private-key", "deploy/keys/id_fixture:1", Severity.CRITICAL),
    ]
    assert from_json[0].fingerprint == (
        "1111111111111111111111111111111111111111:deploy/settings.py:aws-access-token:12"
    )


def test_gitleaks_findings_carry_no_part_of_the_match() -> None:
    leak = json.loads((FIXTURES / "gitleaks-report.json").read_text())[0]
    leak["Match"] = "aws_access_key_id = REDACTED-marker-text"
    (found,) = gitleaks.parse_json(json.dumps([leak]))
    assert "marker" not in repr(found)


UNREDACTED = json.dumps([{"RuleID": "x", "File": "a", "StartLine": 1, "Secret": "hunter2"}])
BROKEN = [
    (bandit.parse_json, "", "empty"),
    (bandit.parse_json, '{"results": [', "not valid JSON"),
    (bandit.parse_json, "[]", "expected shape"),
    (bandit.parse_json, '{"errors": [{"filename": "x.py", "reason": "syntax"}], "results": []}',
     "could not scan 1 path"),
    (bandit.parse_json, '{"errors": [], "results": [{"test_id": "B1"}]}', "lacks"),
    (bandit.parse_sarif, '{"runs": [{"invocations": [{"executionSuccessful": false}]}]}',
     "did not succeed"),
    (pip_audit.parse_json, '{"dependencies": [{"name": "x"}]}', "lacks"),
    (pip_audit.parse_json, "{}", "expected shape"),
    (safety.parse_json, '{"scan_results": {"projects": [{"files": [{}]}]}}', "lacks"),
    (gitleaks.parse_json, "{}", "not a list"),
    (gitleaks.parse_json, UNREDACTED, "unredacted"),
    (gitleaks.parse_sarif, '{"runs": [{"tool": {}}]}', "lacks"),
]  # fmt: skip


@pytest.mark.parametrize(("parse", "text", "says"), BROKEN)
def test_unreadable_reports_raise_scan_error(
    parse: Callable[[str], list[Finding]], text: str, says: str
) -> None:
    with pytest.raises(ScanError, match=says):
        parse(text)


def test_an_unredacted_secret_is_never_in_the_error() -> None:
    with pytest.raises(ScanError) as caught:
        gitleaks.parse_json(UNREDACTED)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("./app/x.py", "app/x.py"), ("app\\x.py", "app/x.py"), ("././a", "a"), ("a/./b", "a/./b")],
)
def test_paths_are_normalized(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    ("text", "severity"),
    [("high", Severity.HIGH), (" Low ", Severity.LOW), ("INFO", Severity.INFO)],
)
def test_severity_names_parse_in_any_case(text: str, severity: Severity) -> None:
    assert Severity.parse(text) is severity


def test_an_unknown_severity_names_the_choices() -> None:
    with pytest.raises(ValueError, match="use one of info, low, medium, high, critical"):
        Severity.parse("severe")
