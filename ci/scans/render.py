"""Reports: one JSON of all findings, one SARIF 2.1.0 per tool, a markdown summary."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ci.errors import ScanError
from ci.scans.findings import NOT_AUDITED, Finding, Location, Severity, Status, ToolRun
from ci.scans.gate import Policy, Verdict

COMBINED_SCHEMA = "shipyard-security/1"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
CATEGORY_PREFIX = "security"
FINGERPRINT_KEY = "shipyardFingerprint/v1"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SECURITY_SEVERITY = {  # GitHub code scanning's numeric scale
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.INFO: "0.0",
}
_LISTED = 30  # findings shown per section of the summary before "and N more"


def _finding_json(finding: Finding, state: str, reason: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tool": finding.tool,
        "rule": finding.rule,
        "severity": finding.severity.label,
        "path": finding.location.path,
        "line": finding.location.line,
        "message": finding.message,
        "fingerprint": finding.fingerprint,
        "state": state,
    }
    if reason is not None:
        out["accepted_because"] = reason
    return out


def _states(verdict: Verdict) -> dict[Finding, tuple[str, str | None]]:
    states: dict[Finding, tuple[str, str | None]] = {
        f: ("blocking", None) for f in verdict.blocking
    }
    states.update({f: ("below-threshold", None) for f in verdict.below_threshold})
    states.update({a.finding: ("accepted", a.entry.reason) for a in verdict.accepted})
    return states


def combined_json(runs: Sequence[ToolRun], verdict: Verdict) -> str:
    """Every tool's status and findings, each finding marked blocking, accepted or below."""
    states = _states(verdict)
    tools = [
        {
            "tool": run.tool,
            "status": run.status.value,
            "detail": run.detail,
            "findings": [
                _finding_json(f, *states.get(f, ("blocking", None))) for f in run.findings
            ],
        }
        for run in runs
    ]
    expired = [
        {"match": e.describe(), "expires": e.expires.isoformat(), "reason": e.reason}
        for e in verdict.expired
    ]
    body = {
        "schema": COMBINED_SCHEMA,
        "passed": verdict.passed,
        "tools": tools,
        "expired_allowlist_entries": expired,
    }
    return json.dumps(body, indent=2) + "\n"


def read_combined(text: str) -> list[ToolRun]:
    """The tool runs back out of `combined_json`'s output (states are recomputed by the gate)."""
    try:
        body = json.loads(text)
        return [
            ToolRun(
                tool=str(t["tool"]),
                status=Status(t["status"]),
                detail=str(t.get("detail", "")),
                findings=tuple(
                    Finding(
                        tool=str(f["tool"]),
                        rule=str(f["rule"]),
                        severity=Severity.parse(str(f["severity"])),
                        location=Location(str(f["path"]), f["line"]),
                        message=str(f["message"]),
                        fingerprint=str(f["fingerprint"]),
                    )
                    for f in t["findings"]
                ),
            )
            for t in body["tools"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ScanError(f"the combined report is damaged ({exc}); re-run the scan.") from exc


def _sarif_result(finding: Finding, reason: str | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": finding.location.path}}
    if finding.location.line is not None:
        physical["region"] = {"startLine": finding.location.line}
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "level": _LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {"severity": finding.severity.label},
    }
    if reason is not None:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": reason}
        ]
    return result


def _sarif_rules(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    worst: dict[str, Severity] = {}
    for f in findings:
        worst[f.rule] = max(worst.get(f.rule, Severity.INFO), f.severity)
    return [
        {"id": rule, "properties": {"security-severity": _SECURITY_SEVERITY[sev]}}
        for rule, sev in sorted(worst.items())
    ]


def sarif(run: ToolRun, verdict: Verdict, *, version: str = "") -> str:
    """One SARIF 2.1.0 log for one tool, its own code-scanning category, accepted = suppressed."""
    states = _states(verdict)
    driver: dict[str, Any] = {"name": run.tool, "rules": _sarif_rules(run.findings)}
    if version:
        driver["semanticVersion"] = version
    invocation: dict[str, Any] = {"executionSuccessful": run.status is not Status.ERROR}
    if run.status is Status.ERROR:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": run.detail}}
        ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "automationDetails": {"id": f"{CATEGORY_PREFIX}/{run.tool}/"},
                "invocations": [invocation],
                "results": [_sarif_result(f, states.get(f, ("", None))[1]) for f in run.findings],
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def sarif_files(runs: Sequence[ToolRun], verdict: Verdict) -> dict[str, str]:
    """File name -> SARIF text, one per tool that ran (a skipped tool gets none)."""
    return {
        f"{run.tool}.sarif": sarif(run, verdict) for run in runs if run.status is not Status.SKIPPED
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _table(findings: Sequence[Finding]) -> list[str]:
    lines = ["| Tool | Severity | Rule | Location | Message |", "|---|---|---|---|---|"]
    for f in findings[:_LISTED]:
        lines.append(
            f"| {f.tool} | {f.severity.label} | `{_cell(f.rule)}` | `{_cell(str(f.location))}` "
            f"| {_cell(f.message)} |"
        )
    if len(findings) > _LISTED:
        lines.append(f"\n…and {len(findings) - _LISTED} more in the JSON report.")
    return lines


def _overview(runs: Sequence[ToolRun], verdict: Verdict, policy: Policy) -> list[str]:
    blocking = set(verdict.blocking)
    accepted = {a.finding for a in verdict.accepted}
    lines = [
        "| Tool | Status | Findings | Blocking | Accepted | Fails at |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        counts = [sum(f in s for f in run.findings) for s in (blocking, accepted)]
        lines.append(
            f"| {run.tool} | {run.status.value} | {len(run.findings)} | {counts[0]} "
            f"| {counts[1]} | {policy.threshold(run.tool).label} and above |"
        )
    return lines


def _gaps(findings: Sequence[Finding]) -> str:
    """ "pip-audit did not audit 14 dependencies", per tool, from NOT_AUDITED findings."""
    counts = Counter(f.tool for f in findings if f.rule == NOT_AUDITED)
    return ", ".join(
        f"{tool} did not audit {n} dependenc{'y' if n == 1 else 'ies'}"
        for tool, n in counts.items()
    )


def headline(verdict: Verdict) -> str:
    """The verdict in one line; an audit of less than everything is always named in it."""
    outcome = "passed" if verdict.passed else "failed"
    blocked = _gaps(verdict.blocking)
    if blocked:
        return f"{outcome}: {blocked}"
    gaps = [a for a in verdict.accepted if a.finding.rule == NOT_AUDITED]
    if not gaps:
        return outcome
    until = min(a.entry.expires for a in gaps).isoformat()
    joint = ", but" if verdict.passed else ";"
    accepted = _gaps([a.finding for a in gaps])
    return f"{outcome}{joint} {accepted} (accepted by the allowlist until {until})"


def markdown_summary(runs: Sequence[ToolRun], verdict: Verdict, policy: Policy) -> str:
    """The short summary for GITHUB_STEP_SUMMARY or the terminal; never shows a secret."""
    head = f"{'✅' if verdict.passed else '❌'} {headline(verdict)}"
    out = [f"## Security scans: {head}", "", *_overview(runs, verdict, policy)]
    if verdict.errors:
        out += ["", "### Tool errors (an error is never a pass)"]
        out += [f"- **{r.tool}**: {_cell(r.detail)}" for r in verdict.errors]
    if verdict.blocking:
        out += ["", "### Blocking findings", "", *_table(verdict.blocking)]
    if verdict.skipped:
        out += ["", "### Skipped"]
        out += [f"- **{r.tool}**: {_cell(r.detail)}" for r in verdict.skipped]
    if verdict.expired:
        out += ["", "### Expired allowlist entries (no longer counted)"]
        out += [
            f"- {_cell(e.describe())}: expired {e.expires.isoformat()} ({_cell(e.reason)})"
            for e in verdict.expired
        ]
    if verdict.accepted:
        out += ["", "### Accepted findings"]
        out += [
            f"- {a.finding.tool} `{a.finding.rule}` at `{a.finding.location}` until "
            f"{a.entry.expires.isoformat()}: {_cell(a.entry.reason)}"
            for a in verdict.accepted
        ]
    if verdict.unused:
        out += ["", "### Allowlist entries that matched nothing (remove them)"]
        out += [f"- {_cell(e.describe())}" for e in verdict.unused]
    below = [f for f in verdict.below_threshold if f.severity > Severity.INFO]
    info = Counter((f.tool, f.rule) for f in verdict.below_threshold if f.severity is Severity.INFO)
    if info:
        out += ["", "### Informational (see the JSON report)"]
        out += [f"- {tool} `{rule}`: {count}" for (tool, rule), count in sorted(info.items())]
    if below:
        out += ["", "<details><summary>Below the threshold (not failing)</summary>", ""]
        out += [*_table(below), "", "</details>"]
    return "\n".join(out) + "\n"
