"""The gate: thresholds, the allowlist file and its expiry, tool errors."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ci.errors import ScanError
from ci.scans.findings import Finding, Location, Severity, Status, ToolRun
from ci.scans.gate import DEFAULT_THRESHOLDS, AllowEntry, Policy, evaluate, parse_policy

TODAY = date(2026, 11, 26)


def finding(
    tool: str = "bandit", severity: Severity = Severity.HIGH, rule: str = "B602"
) -> Finding:
    return Finding(tool, rule, severity, Location("app/x.py", 3), "msg", f"fp-{tool}-{rule}")


def ok(*findings: Finding, tool: str = "bandit") -> ToolRun:
    return ToolRun(tool, Status.OK, findings)


DEFAULTS = [
    # tool, severity, blocks by default
    ("bandit", Severity.HIGH, True),
    ("bandit", Severity.MEDIUM, False),
    ("pip-audit", Severity.HIGH, True),  # a vulnerability with a fix
    ("pip-audit", Severity.LOW, False),  # no fix published
    ("pip-audit", Severity.INFO, False),
    ("safety", Severity.HIGH, True),
    ("gitleaks", Severity.CRITICAL, True),
    ("unknown-tool", Severity.LOW, True),
]


@pytest.mark.parametrize(("tool", "severity", "blocks"), DEFAULTS)
def test_default_thresholds(tool: str, severity: Severity, blocks: bool) -> None:
    verdict = evaluate([ok(finding(tool, severity), tool=tool)], Policy(), [], today=TODAY)
    assert verdict.passed is not blocks
    assert len(verdict.blocking) == int(blocks)


@given(st.sampled_from(Severity), st.sampled_from(Severity))
def test_a_finding_blocks_exactly_at_or_above_its_threshold(
    severity: Severity, threshold: Severity
) -> None:
    verdict = evaluate([ok(finding(severity=severity))], Policy({"bandit": threshold}), [],
                       today=TODAY)  # fmt: skip
    assert verdict.passed is (severity < threshold)


@given(st.integers(min_value=-400, max_value=400))
def test_an_entry_counts_through_its_expiry_day_and_not_after(days: int) -> None:
    entry = AllowEntry(reason="r", expires=TODAY + timedelta(days=days), rule="B602",
                       path="app/x.py")  # fmt: skip
    verdict = evaluate([ok(finding())], Policy(), [entry], today=TODAY)
    assert verdict.passed is (days >= 0)
    assert verdict.expired == (() if days >= 0 else (entry,))


def test_a_tool_error_fails_the_gate_even_without_findings() -> None:
    broken = ToolRun("pip-audit", Status.ERROR, detail="exit 2")
    verdict = evaluate([ok(), broken], Policy(), [], today=TODAY)
    assert not verdict.passed
    assert verdict.errors == (broken,)


def test_a_skipped_tool_is_reported_but_does_not_fail() -> None:
    skipped = ToolRun("safety", Status.SKIPPED, detail="no key")
    verdict = evaluate([skipped], Policy(), [], today=TODAY)
    assert verdict.passed
    assert verdict.skipped == (skipped,)


MATCHING = [
    (AllowEntry("r", TODAY, fingerprint="fp-bandit-B602"), True),
    (AllowEntry("r", TODAY, fingerprint="fp-other"), False),
    (AllowEntry("r", TODAY, rule="B602", path="app/x.py"), True),
    (AllowEntry("r", TODAY, rule="B602", path="app/y.py"), False),
    (AllowEntry("r", TODAY, rule="B602", path="app/x.py", tool="gitleaks"), False),
]


@pytest.mark.parametrize(("entry", "accepted"), MATCHING)
def test_allowlist_matching(entry: AllowEntry, accepted: bool) -> None:
    verdict = evaluate([ok(finding())], Policy(), [entry], today=TODAY)
    assert verdict.passed is accepted
    assert verdict.unused == (() if accepted else (entry,))


POLICY = """
[thresholds]
bandit = "medium"

[[accept]]
tool = "bandit"
rule = "B307"
path = "./app/x.py"
reason = "Input is a constant."
expires = 2027-01-31

[[accept]]
fingerprint = "abc"
reason = "Test key."
expires = 2026-01-01
"""


def test_the_policy_file_is_read() -> None:
    policy, entries = parse_policy(POLICY, source="allow.toml")
    assert policy.threshold("bandit") is Severity.MEDIUM
    assert policy.threshold("gitleaks") is DEFAULT_THRESHOLDS["gitleaks"]
    assert entries == (
        AllowEntry("Input is a constant.", date(2027, 1, 31), rule="B307", path="app/x.py",
                   tool="bandit"),
        AllowEntry("Test key.", date(2026, 1, 1), fingerprint="abc"),
    )  # fmt: skip


BAD_POLICIES = [
    ("[[accept]]\nfingerprint='a'\nexpires=2027-01-01", "accept\\[0\\] has no reason"),
    ("[[accept]]\nfingerprint='a'\nreason='r'\nexpires='soon'", "expires must be a TOML date"),
    ("[[accept]]\nfingerprint='a'\nreason='r'", "expires must be a TOML date"),
    ("[[accept]]\nrule='B1'\nreason='r'\nexpires=2027-01-01", "either a fingerprint, or both"),
    ("[[accept]]\nfingerprint='a'\nrule='B1'\npath='p'\nreason='r'\nexpires=2027-01-01",
     "either a fingerprint"),
    ("[[accept]]\nfingerprint='a'\nreason=''\nexpires=2027-01-01", "must be text"),
    ("[[accept]]\nfingerprint='a'\nreason='r'\nexpires=2027-01-01\nwhy='x'", "unknown key"),
    ("[thresholds]\nbandit='severe'", "thresholds.bandit: unknown severity 'severe'"),
    ("accept = 3", "array of tables"),
    ("[gate]", "unknown top-level"),
    ("[[accept]", "not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "says"), BAD_POLICIES)
def test_a_bad_policy_file_names_the_entry_and_the_fix(text: str, says: str) -> None:
    with pytest.raises(ScanError, match=says):
        parse_policy(text, source="allow.toml")


def test_the_repository_allowlist_parses() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[3] / "security" / "allowlist.toml").read_text()
    policy, _ = parse_policy(text, source="security/allowlist.toml")
    assert policy.thresholds == DEFAULT_THRESHOLDS


def unaudited(name: str = "fastapi") -> Finding:
    return Finding("pip-audit", "not-audited", Severity.INFO, Location("pyproject.toml"),
                   f"{name} was not audited", f"fp-{name}")  # fmt: skip


@given(st.sampled_from(Severity))
def test_an_unaudited_dependency_blocks_whatever_the_threshold(threshold: Severity) -> None:
    runs = [ok(unaudited(), tool="pip-audit")]
    verdict = evaluate(runs, Policy({"pip-audit": threshold}), [], today=TODAY)
    assert not verdict.passed
    assert verdict.blocking == (unaudited(),)


@pytest.mark.parametrize(("days", "passes"), [(0, True), (30, True), (-1, False)])
def test_an_unaudited_dependency_passes_only_while_an_entry_accepts_it(
    days: int, passes: bool
) -> None:
    entry = AllowEntry("No advisory data on this runner.", TODAY + timedelta(days=days),
                       rule="not-audited", path="pyproject.toml", tool="pip-audit")  # fmt: skip
    runs = [ok(unaudited("fastapi"), unaudited("idna"), tool="pip-audit")]
    verdict = evaluate(runs, Policy(), [entry], today=TODAY)
    assert verdict.passed is passes
    assert len(verdict.accepted) == (2 if passes else 0)
