"""Safety's JSON report (`safety scan --output json`, report schema 3.0), parsed into findings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ci.scans.findings import (
    Finding,
    Location,
    fingerprint,
    load_json,
    normalize_path,
    shape_error,
)
from ci.scans.pip_audit import dependency_severity

TOOL = "safety"


def _files(results: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from results.get("files") or []
    for project in results.get("projects") or []:
        yield from project.get("files") or []


def _relative(path: str, root: str) -> str:
    path = normalize_path(path)
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def _spec_findings(name: str, spec: dict[str, Any], path: str) -> Iterator[Finding]:
    raw = str(spec["raw"])
    vulns = spec["vulnerabilities"]
    remediation = vulns.get("remediation") or {}
    recommended = remediation.get("recommended")
    fix = f"recommended upgrade: {recommended}" if recommended else "no secure version known"
    for vuln in vulns["known_vulnerabilities"]:
        if vuln.get("ignored"):
            continue  # ignored by a Safety policy file, with its own reason
        vuln_id = str(vuln["id"])
        yield Finding(
            tool=TOOL,
            rule=vuln_id,
            severity=dependency_severity(bool(recommended)),
            location=Location(path),
            message=f"{raw}: Safety vulnerability {vuln_id} affects {vuln['vulnerable_spec']}, "
            f"{fix}",
            fingerprint=fingerprint(TOOL, vuln_id, name, raw),
        )


def parse_json(text: str, *, root: str = "/src") -> list[Finding]:
    """Parse Safety's report; file paths under `root` (the scanned mount) become relative."""
    report = load_json(text, tool=TOOL)
    if not isinstance(report, dict) or not isinstance(report.get("scan_results"), dict):
        raise shape_error(TOOL, "no 'scan_results' object at the top level")
    findings: list[Finding] = []
    try:
        for file in _files(report["scan_results"]):
            path = _relative(str(file["location"]), root)
            for dep in file["results"]["dependencies"]:
                for spec in dep["specifications"]:
                    findings.extend(_spec_findings(str(dep["name"]), spec, path))
    except (KeyError, TypeError, AttributeError) as exc:
        raise shape_error(TOOL, f"an entry lacks {exc}") from exc
    return findings
