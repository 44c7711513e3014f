"""The gate: which findings fail the pipeline, given thresholds and the accepted-findings list."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from ci.errors import ScanError
from ci.scans.findings import NOT_AUDITED, Finding, Severity, Status, ToolRun, normalize_path

DEFAULT_THRESHOLDS: Mapping[str, Severity] = {
    "bandit": Severity.HIGH,
    "pip-audit": Severity.HIGH,  # a known vulnerability with a fix
    "safety": Severity.HIGH,  # a known vulnerability with a fix
    "gitleaks": Severity.LOW,  # any secret
}


@dataclass(frozen=True, slots=True)
class Policy:
    """Per tool, the lowest severity that fails the gate; a tool not listed fails at LOW."""

    thresholds: Mapping[str, Severity] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))

    def threshold(self, tool: str) -> Severity:
        return self.thresholds.get(tool, Severity.LOW)


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """An accepted finding: by fingerprint, or by rule and path; valid through `expires`."""

    reason: str
    expires: date
    fingerprint: str | None = None
    rule: str | None = None
    path: str | None = None
    tool: str | None = None

    def matches(self, finding: Finding) -> bool:
        if self.tool is not None and self.tool != finding.tool:
            return False
        if self.fingerprint is not None:
            return self.fingerprint == finding.fingerprint
        return self.rule == finding.rule and self.path == finding.location.path

    def describe(self) -> str:
        what = self.fingerprint or f"{self.rule} at {self.path}"
        return f"{self.tool + ' ' if self.tool else ''}{what}"


@dataclass(frozen=True, slots=True)
class Accepted:
    finding: Finding
    entry: AllowEntry


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's decision and everything the summary needs to explain it."""

    passed: bool
    blocking: tuple[Finding, ...]
    accepted: tuple[Accepted, ...]
    below_threshold: tuple[Finding, ...]
    expired: tuple[AllowEntry, ...]
    unused: tuple[AllowEntry, ...]
    errors: tuple[ToolRun, ...]
    skipped: tuple[ToolRun, ...]


def _entry(raw: object, where: str) -> AllowEntry:
    if not isinstance(raw, dict):
        raise ScanError(f"{where} must be a table with reason, expires and a match.")
    strings = {k: v for k, v in raw.items() if k != "expires"}
    unknown = set(raw) - {"reason", "expires", "fingerprint", "rule", "path", "tool"}
    if unknown:
        raise ScanError(f"{where} has unknown key(s) {sorted(unknown)}; remove them.")
    if any(not isinstance(v, str) or not v.strip() for v in strings.values()):
        raise ScanError(f"{where}: reason, fingerprint, rule, path and tool must be text.")
    if "reason" not in raw:
        raise ScanError(f"{where} has no reason: say why the finding is accepted.")
    expires = raw.get("expires")
    if not isinstance(expires, date):
        raise ScanError(
            f"{where}: expires must be a TOML date such as 2027-01-31 (unquoted), got {expires!r}."
        )
    has_rule_path = "rule" in raw and "path" in raw
    if ("fingerprint" in raw) == has_rule_path or ("rule" in raw) != ("path" in raw):
        raise ScanError(f"{where} must name either a fingerprint, or both a rule and a path.")
    path = raw.get("path")
    return AllowEntry(
        reason=raw["reason"].strip(),
        expires=expires,
        fingerprint=raw.get("fingerprint"),
        rule=raw.get("rule"),
        path=normalize_path(path) if path else None,
        tool=raw.get("tool"),
    )


def parse_policy(text: str, *, source: str) -> tuple[Policy, tuple[AllowEntry, ...]]:
    """Read the gate's TOML file: an optional [thresholds] table and [[accept]] entries."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScanError(f"{source} is not valid TOML ({exc}); fix the syntax.") from exc
    unknown = set(data) - {"thresholds", "accept"}
    if unknown:
        raise ScanError(f"{source} has unknown top-level key(s) {sorted(unknown)}.")
    thresholds = dict(DEFAULT_THRESHOLDS)
    for tool, value in data.get("thresholds", {}).items():
        try:
            thresholds[tool] = Severity.parse(str(value))
        except ValueError as exc:
            raise ScanError(f"{source}: thresholds.{tool}: {exc}") from None
    accept = data.get("accept", [])
    if not isinstance(accept, list):
        raise ScanError(f"{source}: accept must be an array of tables, written [[accept]].")
    entries = tuple(_entry(raw, f"{source}: accept[{i}]") for i, raw in enumerate(accept))
    return Policy(thresholds), entries


def blocks(finding: Finding, policy: Policy) -> bool:
    """Whether a finding fails the gate when no allowlist entry accepts it."""
    return finding.rule == NOT_AUDITED or finding.severity >= policy.threshold(finding.tool)


def evaluate(
    runs: Sequence[ToolRun],
    policy: Policy,
    allowlist: Sequence[AllowEntry],
    *,
    today: date,
) -> Verdict:
    """Decide: fail on a tool error, on any unaccepted finding at or above its threshold, and
    on any unaccepted NOT_AUDITED finding whatever the threshold."""
    live = [e for e in allowlist if e.expires >= today]
    used: set[int] = set()
    blocking: list[Finding] = []
    accepted: list[Accepted] = []
    below: list[Finding] = []
    for run in runs:
        for finding in run.findings:
            entry = next((e for e in live if e.matches(finding)), None)
            if entry is not None:
                used.add(id(entry))
                accepted.append(Accepted(finding, entry))
            elif blocks(finding, policy):
                blocking.append(finding)
            else:
                below.append(finding)
    errors = tuple(r for r in runs if r.status is Status.ERROR)
    return Verdict(
        passed=not blocking and not errors,
        blocking=tuple(blocking),
        accepted=tuple(accepted),
        below_threshold=tuple(below),
        expired=tuple(e for e in allowlist if e.expires < today),
        unused=tuple(e for e in live if id(e) not in used),
        errors=errors,
        skipped=tuple(r for r in runs if r.status is Status.SKIPPED),
    )
