"""The common shape every scanner's report is parsed into: findings and tool runs."""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass

from ci.errors import ScanError

# The rule of a finding that says part of the target was not examined at all: an audit of
# less than everything is no pass, so the gate blocks it whatever the thresholds say, unless
# an allowlist entry (with its reason and expiry) accepts it.
NOT_AUDITED = "not-audited"


class Severity(enum.IntEnum):
    """How bad a finding is; ordered, so a threshold is a comparison."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Read a severity name in any case ("high", "HIGH")."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r}: use one of {names}.") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding is: a repository path, and a line when there is one."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return self.path if self.line is None else f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One issue reported by one tool; never carries a secret value."""

    tool: str
    rule: str
    severity: Severity
    location: Location
    message: str
    fingerprint: str


class Status(enum.StrEnum):
    """How a tool's run ended, as far as the gate is concerned."""

    OK = "ok"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ToolRun:
    """A tool's outcome: its findings, or why it was skipped or failed."""

    tool: str
    status: Status
    findings: tuple[Finding, ...] = ()
    detail: str = ""


def fingerprint(*parts: str) -> str:
    """A short, stable identifier for a finding, from the parts that make it the same one."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return digest[:16]


def normalize_path(path: str) -> str:
    """Make tool paths comparable: no leading "./", forward slashes."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def load_json(text: str, *, tool: str) -> object:
    """Parse a tool's report, or raise ScanError saying the tool likely crashed."""
    if not text.strip():
        raise ScanError(
            f"the {tool} report is empty: the tool most likely crashed before writing it; "
            "read its stderr in the pipeline log."
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScanError(
            f"the {tool} report is not valid JSON ({exc.msg} at line {exc.lineno}): "
            "the tool most likely crashed while writing it; read its stderr."
        ) from exc


def shape_error(tool: str, what: str) -> ScanError:
    """The error for a report that is JSON but not in the tool's documented shape."""
    return ScanError(
        f"the {tool} report does not have the expected shape: {what}. "
        f"Check that the pinned {tool} version writes the format ci/scans expects."
    )
