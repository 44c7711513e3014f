"""Pure: release and lock records: parse, append, choose the rollback target."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from deploy.errors import NothingToRollBack


class Outcome(StrEnum):
    """How an attempt ended."""

    STARTED = "started"  # written before the switch; replaced by a final record
    HEALTHY = "healthy"
    FAILED = "failed"  # switched, never became healthy
    PULL_FAILED = "pull_failed"  # nothing changed on the host
    INTERRUPTED = "interrupted"  # the deployer vanished mid-switch; `running` says what runs
    PAUSED = "paused"  # a canary waits at a step for `promote` or `abort` (.deploy/canary.json)
    PASSED = "passed"  # a load-gate verdict: the gate passed (FAILED: it did not)
    RECORDED = "recorded"  # a note, not an attempt (an evidence override)


class Kind(StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"  # asked for by a person
    ADOPT = "adopt"  # `init` took the running release over as the first colour
    AUTO_ROLLBACK = "auto_rollback"  # after a failed health check, or a failed watch
    LOAD_GATE = "load_gate"  # the pipeline's load-test gate ran against this digest
    OVERRIDE = "override"  # missing evidence was overridden with --force --reason


@dataclass(frozen=True, slots=True)
class Release:
    """One line of the host's release history."""

    id: str
    kind: Kind
    tag: str
    image: str
    digest: str | None
    outcome: Outcome
    started_at: str
    finished_at: str | None
    deployed_by: str
    previous_tag: str | None = None
    running_tag: str | None = None
    message: str = ""
    phases: tuple[tuple[str, float], ...] = ()
    colour: str | None = None  # blue-green: the colour this release was started as
    log_tail: tuple[str, ...] = ()  # a failed release: the last lines of its container's log

    def to_line(self) -> str:
        data = asdict(self)
        data["phases"] = dict(self.phases)
        data["log_tail"] = list(self.log_tail)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Release:
        phases = tuple((str(k), float(v)) for k, v in dict(data.get("phases") or {}).items())
        return cls(
            id=str(data["id"]),
            kind=Kind(data["kind"]),
            tag=str(data["tag"]),
            image=str(data.get("image", "")),
            digest=data.get("digest"),
            outcome=Outcome(data["outcome"]),
            started_at=str(data["started_at"]),
            finished_at=data.get("finished_at"),
            deployed_by=str(data.get("deployed_by", "")),
            previous_tag=data.get("previous_tag"),
            running_tag=data.get("running_tag"),
            message=str(data.get("message", "")),
            phases=phases,
            colour=data.get("colour"),
            log_tail=tuple(str(line) for line in data.get("log_tail") or ()),
        )


def parse_ledger(text: str) -> list[Release]:
    """All records, latest record per id winning, in the order attempts started."""
    by_id: dict[str, Release] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = Release.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line from a cut connection is not history
        by_id[record.id] = record
    return list(by_id.values())


def append_record(text: str, record: Release) -> str:
    """The ledger text with one more record line."""
    prefix = text if not text or text.endswith("\n") else text + "\n"
    return prefix + record.to_line() + "\n"


def unfinished(history: list[Release]) -> list[Release]:
    return [release for release in history if release.outcome is Outcome.STARTED]


def mark_interrupted(release: Release, running_tag: str | None, now: str) -> Release:
    running = running_tag or "nothing"
    return replace(
        release,
        outcome=Outcome.INTERRUPTED,
        finished_at=now,
        running_tag=running_tag,
        message=f"the deployer disconnected during this attempt; found {running} running",
    )


def last_healthy(history: list[Release]) -> Release | None:
    healthy = [release for release in history if release.outcome is Outcome.HEALTHY]
    return healthy[-1] if healthy else None


def rollback_target(history: list[Release], current_tag: str | None, to: str | None) -> str:
    """The tag to roll back to: `to` if it ever passed, else the last passing other tag."""
    passed = [release.tag for release in history if release.outcome is Outcome.HEALTHY]
    if to is not None:
        if to not in passed:
            known = ", ".join(dict.fromkeys(reversed(passed))) or "none"
            raise NothingToRollBack(
                f"Tag {to!r} never passed its health check on this host, so it is not a "
                f"rollback target; releases that passed: {known}."
            )
        return to
    for tag in reversed(passed):
        if tag != current_tag:
            return tag
    raise NothingToRollBack(
        f"No earlier healthy release to roll back to (running: {current_tag or 'nothing'}); "
        "deploy a tag instead."
    )


@dataclass(frozen=True, slots=True)
class Lock:
    """Who holds the host's deploy lock, and until when."""

    owner: str
    token: str
    acquired_at: float
    expires_at: float
    reason: str = ""

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    def describe(self, now: float) -> str:
        age = max(0, int(now - self.acquired_at))
        left = max(0, int(self.expires_at - now))
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.owner}{why}, held for {age}s, expires in {left}s"


def parse_lock(text: str) -> Lock | None:
    """A lock record, or None when the text is not one (treated as no lock by callers)."""
    try:
        data = json.loads(text)
        return Lock(
            owner=str(data["owner"]),
            token=str(data["token"]),
            acquired_at=float(data["acquired_at"]),
            expires_at=float(data["expires_at"]),
            reason=str(data.get("reason", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None
