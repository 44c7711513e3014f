"""From a tool's exit codes and report text to a ToolRun; which tool wrote a saved report."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from ci.errors import ScanError
from ci.scans import bandit, gitleaks, pip_audit, safety
from ci.scans.findings import Finding, Status, ToolRun
from ci.scans.render import COMBINED_SCHEMA, read_combined
from ci.scans.tools import Outcome, ScanTool

Parser = Callable[[str], list[Finding]]

JSON_PARSERS: dict[str, Parser] = {
    "bandit": bandit.parse_json,
    "pip-audit": pip_audit.parse_json,
    "safety": safety.parse_json,
    "gitleaks": gitleaks.parse_json,
}
SARIF_PARSERS: dict[str, Parser] = {
    "bandit": bandit.parse_sarif,
    "gitleaks": gitleaks.parse_sarif,
}


def conclude(
    tool: ScanTool, exit_codes: Sequence[int], report_text: str | None, stderr_tail: str = ""
) -> ToolRun:
    """Turn a finished scanner container into a ToolRun; a crash is an error, never a pass."""
    outcomes = [Outcome.ERROR] * abs(len(tool.steps) - len(exit_codes)) + [
        step.exit_codes.outcome(code) for step, code in zip(tool.steps, exit_codes, strict=False)
    ]
    if Outcome.ERROR in outcomes:
        shown = ", ".join(str(c) for c in exit_codes) or "none"
        detail = f"{tool.name} failed (exit codes: {shown}); this is a tool error, not a pass."
        return ToolRun(tool.name, Status.ERROR, detail=f"{detail}\n{stderr_tail}".strip())
    if report_text is None:
        return ToolRun(
            tool.name, Status.ERROR, detail=f"{tool.name} wrote no report at {tool.report}."
        )
    try:
        findings = JSON_PARSERS[tool.name](report_text)
    except ScanError as exc:
        return ToolRun(tool.name, Status.ERROR, detail=str(exc))
    if Outcome.FINDINGS in outcomes and not findings:
        return ToolRun(
            tool.name,
            Status.ERROR,
            detail=f"{tool.name}'s exit code reports findings but its report lists none; "
            "the tool most likely failed: read its stderr.",
        )
    return ToolRun(tool.name, Status.OK, tuple(findings))


def _sarif_tool(report: dict[str, object]) -> str:
    runs = report.get("runs")
    if isinstance(runs, list) and runs and isinstance(runs[0], dict):
        name = str(runs[0].get("tool", {}).get("driver", {}).get("name", "")).lower()
        if name in SARIF_PARSERS:
            return name
    raise ScanError("this SARIF file was written by neither bandit nor gitleaks.")


def detect(text: str) -> tuple[str, str]:
    """Which tool wrote a saved report and in what format: ("bandit", "json"), ..."""
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScanError(f"not a JSON report ({exc.msg} at line {exc.lineno}).") from exc
    if isinstance(report, list):
        return "gitleaks", "json"
    if isinstance(report, dict):
        if report.get("schema") == COMBINED_SCHEMA:
            return "combined", "json"
        if "runs" in report:
            return _sarif_tool(report), "sarif"
        if "results" in report and "metrics" in report:
            return "bandit", "json"
        if "dependencies" in report and "fixes" in report:
            return "pip-audit", "json"
        if "scan_results" in report and "meta" in report:
            return "safety", "json"
    raise ScanError(
        "this report was not written by bandit, pip-audit, Safety or gitleaks, "
        "nor by `ci/main.py scan`; pass one of those."
    )


def parse_saved(text: str) -> list[ToolRun]:
    """The tool runs a saved report holds: one for a tool's own report, several for ours."""
    tool, fmt = detect(text)
    if tool == "combined":
        return read_combined(text)
    parsers = SARIF_PARSERS if fmt == "sarif" else JSON_PARSERS
    return [ToolRun(tool, Status.OK, tuple(parsers[tool](text)))]
