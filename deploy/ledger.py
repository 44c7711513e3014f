"""Pure: release and lock records: parse, append, choose the rollback target."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from deploy.config import check_tag
from deploy.errors import InvalidInput, NothingToRollBack

LEDGER_NAME = ".deploy/releases.jsonl"


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
    FLEET_ROLLBACK = "fleet_rollback"  # another host of the environment failed the release


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
    verified_key: str | None = None  # fingerprint(s) of the key(s) that verified the digest
    user_errors: int | None = None  # blue-green's failed watch: 5xx users got from it

    def to_line(self) -> str:
        data = asdict(self)
        data["phases"] = dict(self.phases)
        data["log_tail"] = list(self.log_tail)
        if self.user_errors is None:
            del data["user_errors"]
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
            verified_key=data.get("verified_key"),  # older ledgers have none
            user_errors=None if data.get("user_errors") is None else int(data["user_errors"]),
        )


@dataclass(frozen=True, slots=True)
class LockEvent:
    """A line of the audit trail: someone took the lock by hand (`lock`) or removed it."""

    action: str  # "lock" or "unlock"
    at: str
    by: str
    reason: str = ""
    holder: str | None = None  # unlock: whose lock was removed

    def to_line(self) -> str:
        data = asdict(self)
        data["event"] = data.pop("action")
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LockEvent:
        action = str(data["event"])
        if action not in ("lock", "unlock"):
            raise ValueError(f"unknown event {action!r}")
        holder = data.get("holder")
        return cls(action, str(data["at"]), str(data["by"]), str(data.get("reason", "")),
                   None if holder is None else str(holder))


Entry = Release | LockEvent


@dataclass(frozen=True, slots=True)
class Ledger:
    """What the ledger file holds: releases and lock events in order, and unreadable lines."""

    entries: tuple[Entry, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def releases(self) -> list[Release]:
        return [entry for entry in self.entries if isinstance(entry, Release)]


def read_ledger(data: bytes) -> Ledger:
    """Every readable line, latest record per release id winning; a warning per bad line."""
    entries: dict[str, Entry] = {}
    warnings: list[str] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            entry = parse_entry(raw.decode("utf-8"))
        except UnicodeDecodeError:
            warnings.append(f"{LEDGER_NAME} line {number} is not UTF-8 text; skipped it.")
            continue
        except (ValueError, KeyError, TypeError, AttributeError):
            warnings.append(f"{LEDGER_NAME} line {number} is not a ledger record; skipped it.")
            continue
        entries[entry.id if isinstance(entry, Release) else f"line {number}"] = entry
    return Ledger(tuple(entries.values()), tuple(warnings))


def parse_entry(line: str) -> Entry:
    data = json.loads(line)
    return LockEvent.from_json(data) if "event" in data else Release.from_json(data)


def newest(entries: list[Entry], limit: int) -> list[Entry]:
    """The last `limit` entries (none for 0); a negative limit is refused."""
    if limit < 0:
        raise InvalidInput(f"--limit {limit} is refused: give how many entries to show, 0 or more.")
    return entries[len(entries) - limit :] if limit else []


def line_to_append(existing: bytes, line: str) -> str:
    """The text to append: the line, on a line of its own even after a torn last line."""
    return ("\n" if existing and not existing.endswith(b"\n") else "") + line + "\n"


def parse_ledger(text: str) -> list[Release]:
    """All records, latest record per id winning, in the order attempts started."""
    return read_ledger(text.encode("utf-8", "surrogateescape")).releases


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


def left_interrupted(
    history: list[Release], lock: Lock | None, running: str | None, now: float, at: str
) -> dict[str, Release]:
    """Attempts left 'started' by a deployer that is gone (no live deployer lock), by id,
    as `status` reports them before a command holding the lock records them."""
    if lock is not None and not lock.manual and not lock.expired(now):
        return {}  # a deployer is at work: its attempt is in progress
    return {
        release.id: replace(
            mark_interrupted(release, running, at),
            message=f"interrupted; {running or 'nothing'} runs (to be recorded by the next "
            "up, rollback or init)",
        )
        for release in unfinished(history)
    }


def last_healthy(history: list[Release]) -> Release | None:
    healthy = [release for release in history if release.outcome is Outcome.HEALTHY]
    return healthy[-1] if healthy else None


def rollback_target(history: list[Release], current_tag: str | None, to: str | None) -> str:
    """The tag to roll back to: `to` if it ever passed, else the last passing other tag.

    The tag comes from the host's ledger, so it passes the tag rules again before any
    command sees it: a tampered line cannot smuggle a hostile tag into a command or `.env`.
    """
    passed = [release.tag for release in history if release.outcome is Outcome.HEALTHY]
    if to is not None:
        if to not in passed:
            known = ", ".join(dict.fromkeys(reversed(passed))) or "none"
            raise NothingToRollBack(
                f"Tag {to!r} never passed its health check on this host, so it is not a "
                f"rollback target; releases that passed: {known}."
            )
        return recheck_tag(to)
    for tag in reversed(passed):
        if tag != current_tag:
            return recheck_tag(tag)
    raise NothingToRollBack(
        f"No earlier healthy release to roll back to (running: {current_tag or 'nothing'}); "
        "deploy a tag instead."
    )


def recheck_tag(tag: str) -> str:
    """A tag read from the host's ledger, refused unless it passes the tag rules."""
    try:
        return check_tag(tag)
    except InvalidInput as error:
        raise InvalidInput(
            f"The host's release history ({LEDGER_NAME}) names {tag!r} as the rollback "
            f"target; it is refused, as any tag would be: {error} Check that file on the host."
        ) from error


@dataclass(frozen=True, slots=True)
class Lock:
    """Who holds the host's deploy lock, and how long it lasts.

    A deployer's lock is a lease: the deployer renews `expires_at` while it runs, so the lock
    of one that vanished is stale soon after its last heartbeat. A lock taken by hand
    (`lock --reason`) has no expiry (`expires_at` is None): it stays until `unlock`.
    """

    owner: str
    token: str
    acquired_at: float
    expires_at: float | None
    reason: str = ""
    renewed_at: float | None = None

    @property
    def manual(self) -> bool:
        return self.expires_at is None

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def renewed(self, now: float, lease: float) -> Lock:
        return replace(self, renewed_at=now, expires_at=now + lease)

    def describe(self, now: float) -> str:
        age = max(0, int(now - self.acquired_at))
        why = f" ({self.reason})" if self.reason else ""
        if self.expires_at is None:
            return f"{self.owner}{why}, held by hand for {age}s until someone runs `unlock`"
        beat = max(0, int(now - (self.renewed_at or self.acquired_at)))
        left = max(0, int(self.expires_at - now))
        return f"{self.owner}{why}, held for {age}s, last heartbeat {beat}s ago, stale in {left}s"


def parse_lock(text: str) -> Lock | None:
    """A lock record, or None when the text is not one (treated as no lock by callers)."""
    try:
        data = json.loads(text)
        expires, renewed = data["expires_at"], data.get("renewed_at")
        return Lock(
            owner=str(data["owner"]),
            token=str(data["token"]),
            acquired_at=float(data["acquired_at"]),
            expires_at=None if expires is None else float(expires),
            reason=str(data.get("reason", "")),
            renewed_at=None if renewed is None else float(renewed),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
