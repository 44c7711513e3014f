"""pip-audit's JSON report (`pip-audit -f json`), parsed into findings."""

from __future__ import annotations

from typing import Any

from ci.scans.findings import (
    NOT_AUDITED,
    Finding,
    Location,
    Severity,
    fingerprint,
    load_json,
    shape_error,
)

TOOL = "pip-audit"
MANIFEST = "pyproject.toml"


def dependency_severity(fixable: bool) -> Severity:
    """pip-audit and Safety give no severity: one with a fix is actionable now, so HIGH."""
    return Severity.HIGH if fixable else Severity.LOW


def _vuln_finding(name: str, version: str, vuln: dict[str, Any], manifest: str) -> Finding:
    vuln_id = str(vuln["id"])
    fixes = [str(v) for v in vuln.get("fix_versions") or []]
    aliases = sorted(str(a) for a in vuln.get("aliases") or [])
    also = f" ({', '.join(aliases)})" if aliases else ""
    fix = f"fixed in {', '.join(fixes)}" if fixes else "no fixed version published"
    return Finding(
        tool=TOOL,
        rule=vuln_id,
        severity=dependency_severity(bool(fixes)),
        location=Location(manifest),
        message=f"{name} {version}: {vuln_id}{also}, {fix}",
        fingerprint=fingerprint(TOOL, vuln_id, name, version),
    )


def _skipped_finding(name: str, reason: str, manifest: str) -> Finding:
    return Finding(
        tool=TOOL,
        rule=NOT_AUDITED,
        severity=Severity.INFO,
        location=Location(manifest),
        message=f"{name} was not audited: {reason}",
        fingerprint=fingerprint(TOOL, NOT_AUDITED, name),
    )


def parse_json(text: str, *, manifest: str = MANIFEST) -> list[Finding]:
    """Parse `pip-audit -f json`; a dependency pip-audit could not audit is a NOT_AUDITED
    finding (INFO: it says nothing about a vulnerability, but the gate blocks it).

    pip-audit's report names no file, so every finding is placed on `manifest`, the file
    where the dependency is declared and would be upgraded.
    """
    report = load_json(text, tool=TOOL)
    if not isinstance(report, dict) or not isinstance(report.get("dependencies"), list):
        raise shape_error(TOOL, "no 'dependencies' list at the top level")
    findings: list[Finding] = []
    for dep in report["dependencies"]:
        try:
            name = str(dep["name"])
            if "skip_reason" in dep:
                findings.append(_skipped_finding(name, str(dep["skip_reason"]), manifest))
                continue
            version = str(dep["version"])
            findings.extend(_vuln_finding(name, version, v, manifest) for v in dep["vulns"])
        except (KeyError, TypeError) as exc:
            raise shape_error(TOOL, f"a dependency entry lacks {exc}") from exc
    return findings
