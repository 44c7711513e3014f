"""The real pip-audit on fixture projects; needs PyPI's per-version vulnerability API.

pip-audit asks https://pypi.org/pypi/NAME/VERSION/json for each pinned dependency. Where that
endpoint does not answer (as on this project's build machines, whose PyPI mirror serves only
the package index and /pypi/NAME/json), the end-to-end tests skip and say so, and the last
test runs pip-audit's own requirement parser, auditor and JSON formatter with the one
published advisory the fixture needs, so the parser is still checked on pip-audit's output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from packaging.version import Version

from ci.scans import pip_audit
from ci.scans.findings import Finding, Severity, Status, ToolRun
from ci.scans.gate import Policy, evaluate

FIXTURES = Path(__file__).parents[2] / "tests" / "fixtures" / "scans"
ADVISORY_URL = "https://pypi.org/pypi/jinja2/2.11.2/json"
TODAY = date(2026, 11, 26)


@cache
def vulnerability_api() -> str | None:
    """None when PyPI answers with vulnerability data, else why not (checked in ≤5 s)."""
    try:
        with urllib.request.urlopen(ADVISORY_URL, timeout=5) as answer:
            body = json.load(answer)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"PyPI's vulnerability API ({ADVISORY_URL}) is unreachable here: {exc}"
    if not body.get("vulnerabilities"):
        return f"{ADVISORY_URL} answered without vulnerability data"
    return None


def needs_vulnerability_api() -> None:
    reason = vulnerability_api()
    if reason is not None:
        pytest.skip(reason)


def run_pip_audit(project: Path) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "pip_audit", "-r", "requirements.txt", "--no-deps",
         "--disable-pip", "-f", "json", "--progress-spinner", "off", "--timeout", "10"],
        cwd=project, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout


def gate(found: list[Finding]) -> bool:
    runs = [ToolRun("pip-audit", Status.OK, tuple(found))]
    return evaluate(runs, Policy(), [], today=TODAY).passed


def test_real_pip_audit_finds_jinja2_advisory_with_a_fix() -> None:
    needs_vulnerability_api()
    code, report = run_pip_audit(FIXTURES / "vulnerable")
    assert code == 1
    found = pip_audit.parse_json(report)
    assert any(f.rule == "PYSEC-2021-66" and f.severity is Severity.HIGH for f in found)
    assert not gate(found)


def test_real_pip_audit_passes_the_clean_fixture() -> None:
    needs_vulnerability_api()
    code, report = run_pip_audit(FIXTURES / "clean")
    assert (code, pip_audit.parse_json(report)) == (0, [])


def test_pip_audit_own_auditor_and_formatter_with_the_published_advisory() -> None:
    from pip_audit._audit import Auditor  # type: ignore[import-untyped]
    from pip_audit._dependency_source import RequirementSource  # type: ignore[import-untyped]
    from pip_audit._format import JsonFormat  # type: ignore[import-untyped]
    from pip_audit._service import (  # type: ignore[import-untyped]
        VulnerabilityResult,
        VulnerabilityService,
    )

    class PublishedAdvisories(VulnerabilityService):  # type: ignore[misc]
        """PYSEC-2021-66 as PyPI publishes it for jinja2 2.11.2 (fixed in 2.11.3)."""

        def query(self, spec: object) -> tuple[object, list[object]]:
            if (getattr(spec, "canonical_name", ""), getattr(spec, "version", None)) != (
                "jinja2",
                Version("2.11.2"),
            ):
                return spec, []
            advisory = VulnerabilityResult.create(
                ids=["PYSEC-2021-66", "CVE-2020-28493", "GHSA-g3rq-g295-4j3m"],
                description="ReDoS in the urlize filter.",
                fix_versions=[Version("2.11.3")],
                published=None,
            )
            return spec, [advisory]

    def audit(project: Path) -> list[Finding]:
        source = RequirementSource([project / "requirements.txt"], no_deps=True, disable_pip=True)
        results = dict(Auditor(PublishedAdvisories()).audit(source))
        return pip_audit.parse_json(JsonFormat(True, True).format(results, []))

    found = audit(FIXTURES / "vulnerable")
    assert [(f.rule, f.severity) for f in found] == [("PYSEC-2021-66", Severity.HIGH)]
    assert "fixed in 2.11.3" in found[0].message
    assert not gate(found)
    assert audit(FIXTURES / "clean") == []


def test_real_pip_audit_without_advisory_data_fails_the_gate() -> None:
    if vulnerability_api() is None:
        pytest.skip("PyPI answers with vulnerability data here, so every dependency is audited")
    code, report = run_pip_audit(FIXTURES / "clean")
    found = pip_audit.parse_json(report)
    assert code == 0  # pip-audit itself calls this a pass
    assert found
    assert {f.rule for f in found} == {"not-audited"}
    assert not gate(found)
