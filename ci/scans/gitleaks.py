"""Gitleaks' JSON and SARIF reports (`--report-format json|sarif`), parsed into findings."""

from __future__ import annotations

from typing import Any

from ci.errors import ScanError
from ci.scans.findings import (
    Finding,
    Location,
    Severity,
    load_json,
    normalize_path,
    shape_error,
)

TOOL = "gitleaks"
REDACTED = "REDACTED"


def _require_redacted(secret: object) -> None:
    if secret not in ("", REDACTED, None):
        raise ScanError(
            "the gitleaks report holds an unredacted secret; it must not be kept or shown. "
            "Run gitleaks with --redact (ci/scans/tools.py does) and delete this report."
        )


def _finding(rule: str, description: str, path: str, line: int, commit: str, fp: str) -> Finding:
    path = normalize_path(path)
    where = f"commit {commit[:12]}; " if commit else ""
    return Finding(
        tool=TOOL,
        rule=rule,
        severity=Severity.CRITICAL,
        location=Location(path, line),
        message=f"{description or rule} ({where}secret redacted)",
        fingerprint=fp or (f"{commit}:{path}:{rule}:{line}" if commit else f"{path}:{rule}:{line}"),
    )


def _json_item(item: dict[str, Any]) -> Finding:
    _require_redacted(item.get("Secret"))
    return _finding(
        str(item["RuleID"]),
        str(item.get("Description", "")),
        str(item["File"]),
        int(item["StartLine"]),
        str(item.get("Commit", "")),
        str(item.get("Fingerprint", "")),
    )


def parse_json(text: str) -> list[Finding]:
    """Parse gitleaks' JSON report: a list of leaks, `[]` when there are none."""
    report = load_json(text, tool=TOOL)
    if not isinstance(report, list):
        raise shape_error(TOOL, "the top level is not a list of leaks")
    try:
        return [_json_item(item) for item in report]
    except (KeyError, TypeError, ValueError) as exc:
        raise shape_error(TOOL, f"a leak lacks {exc}") from exc


def _sarif_item(result: dict[str, Any], descriptions: dict[str, str]) -> Finding:
    physical = result["locations"][0]["physicalLocation"]
    region = physical["region"]
    _require_redacted(region.get("snippet", {}).get("text"))
    rule = str(result["ruleId"])
    return _finding(
        rule,
        descriptions.get(rule, ""),
        str(physical["artifactLocation"]["uri"]),
        int(region["startLine"]),
        str(result.get("partialFingerprints", {}).get("commitSha", "")),
        "",
    )


def parse_sarif(text: str) -> list[Finding]:
    """Parse gitleaks' SARIF report; fingerprints are rebuilt in gitleaks' own format."""
    report = load_json(text, tool=TOOL)
    if not isinstance(report, dict) or not isinstance(report.get("runs"), list):
        raise shape_error(TOOL, "no SARIF 'runs' list")
    findings: list[Finding] = []
    try:
        for run in report["runs"]:
            rules = run["tool"]["driver"].get("rules") or []
            descriptions = {
                str(r["id"]): str(r.get("shortDescription", {}).get("text", "")) for r in rules
            }
            findings.extend(_sarif_item(r, descriptions) for r in run.get("results") or [])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise shape_error(TOOL, f"a SARIF result lacks {exc}") from exc
    return findings
