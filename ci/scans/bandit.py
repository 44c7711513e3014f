"""Bandit's JSON and SARIF reports, parsed into findings."""

from __future__ import annotations

from typing import Any

from ci.errors import ScanError
from ci.scans.findings import (
    Finding,
    Location,
    Severity,
    fingerprint,
    load_json,
    normalize_path,
    shape_error,
)

TOOL = "bandit"


def _severity(text: object) -> Severity:
    if isinstance(text, str) and text.upper() in ("LOW", "MEDIUM", "HIGH"):
        return Severity[text.upper()]
    return Severity.INFO  # bandit's UNDEFINED


def _finding(
    rule: str, severity: object, confidence: object, path: str, line: int, text: str, code: str
) -> Finding:
    path = normalize_path(path)
    conf = confidence.lower() if isinstance(confidence, str) else "undefined"
    return Finding(
        tool=TOOL,
        rule=rule,
        severity=_severity(severity),
        location=Location(path, line),
        message=f"{text} (confidence: {conf})",
        fingerprint=fingerprint(TOOL, rule, path, code.strip()),
    )


def _source_line(code: str, line: int) -> str:
    """The flagged line out of bandit's numbered `code` excerpt ("5     eval(x)")."""
    prefix = f"{line} "
    for numbered in code.splitlines():
        if numbered.startswith(prefix):
            return numbered[len(prefix) :]
    return ""


def _check_errors(errors: object) -> None:
    if not isinstance(errors, list):
        raise shape_error(TOOL, "'errors' is not a list")
    if errors:
        where = "; ".join(
            f"{e.get('filename', '?')}: {e.get('reason', '?')}"
            for e in errors
            if isinstance(e, dict)
        )
        raise ScanError(
            f"bandit could not scan {len(errors)} path(s) ({where}); a path it cannot read is "
            "not a pass: fix the file or the path given to bandit."
        )


def parse_json(text: str) -> list[Finding]:
    """Parse `bandit -f json` output."""
    report = load_json(text, tool=TOOL)
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise shape_error(TOOL, "no 'results' list at the top level")
    _check_errors(report.get("errors", []))
    findings: list[Finding] = []
    for item in report["results"]:
        try:
            line = int(item["line_number"])
            findings.append(
                _finding(
                    str(item["test_id"]),
                    item.get("issue_severity"),
                    item.get("issue_confidence"),
                    str(item["filename"]),
                    line,
                    str(item["issue_text"]),
                    _source_line(str(item.get("code", "")), line),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise shape_error(TOOL, f"a result lacks {exc}") from exc
    return findings


def _sarif_result(result: dict[str, Any]) -> Finding:
    physical = result["locations"][0]["physicalLocation"]
    region = physical.get("region", {})
    props = result.get("properties", {})
    return _finding(
        str(result["ruleId"]),
        props.get("issue_severity"),
        props.get("issue_confidence"),
        str(physical["artifactLocation"]["uri"]),
        int(region["startLine"]),
        str(result["message"]["text"]),
        str(region.get("snippet", {}).get("text", "")),
    )


def _check_invocation(invocation: dict[str, Any]) -> None:
    if invocation.get("executionSuccessful") is False:
        raise ScanError(
            "bandit's SARIF report says its execution did not succeed; "
            "read the tool's notifications in the report and its stderr."
        )
    skipped = [
        {
            "filename": n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "reason": n["message"]["text"],
        }
        for n in invocation.get("toolConfigurationNotifications") or []
        if n.get("level") == "error"
    ]
    _check_errors(skipped)


def parse_sarif(text: str) -> list[Finding]:
    """Parse `bandit -f sarif` output (bandit's `sarif` extra)."""
    report = load_json(text, tool=TOOL)
    if not isinstance(report, dict) or not isinstance(report.get("runs"), list):
        raise shape_error(TOOL, "no SARIF 'runs' list")
    findings: list[Finding] = []
    for run in report["runs"]:
        for invocation in run.get("invocations", []):
            _check_invocation(invocation)
        try:
            findings.extend(_sarif_result(r) for r in run.get("results", []))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise shape_error(TOOL, f"a SARIF result lacks {exc}") from exc
    return findings
