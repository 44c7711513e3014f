"""The ledger file as bytes, lock leases, manual locks and the audit trail (pure tables)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy.errors import InvalidInput
from deploy.host.lock import heartbeat_interval
from deploy.ledger import (
    Lock,
    LockEvent,
    Outcome,
    left_interrupted,
    line_to_append,
    newest,
    parse_lock,
    read_ledger,
    rollback_target,
)
from tests.unit.deploy.test_ledger import release


def ledger_bytes(*lines: str | bytes) -> bytes:
    return b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)


V1 = release("v1", Outcome.HEALTHY, 1).to_line()
V2 = release("v2", Outcome.HEALTHY, 2).to_line()


def test_a_non_utf8_line_is_skipped_with_a_warning_naming_it() -> None:
    ledger = read_ledger(ledger_bytes(V1, b'{"id": "x\xff\xfe"}', V2))
    assert [r.tag for r in ledger.releases] == ["v1", "v2"]
    assert ledger.warnings == (".deploy/releases.jsonl line 2 is not UTF-8 text; skipped it.",)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (b"not json", "is not a ledger record"),
        (b"[1, 2]", "is not a ledger record"),
        (b'{"id": "a"}', "is not a ledger record"),
        (b'{"event": "explode", "at": "t", "by": "me"}', "is not a ledger record"),
        (b"\xc3\x28", "is not UTF-8 text"),
    ],
)
def test_unreadable_lines_are_named(bad: bytes, why: str) -> None:
    ledger = read_ledger(ledger_bytes(V1, "", bad, V2))
    assert len(ledger.releases) == 2
    assert ledger.warnings == (f".deploy/releases.jsonl line 3 {why}; skipped it.",)


@given(st.binary(max_size=200))
def test_any_bytes_are_read_without_raising(junk: bytes) -> None:
    ledger = read_ledger(ledger_bytes(V1) + junk + b"\n" + ledger_bytes(V2))
    assert ledger.releases[0].tag == "v1"
    assert ledger.releases[-1].tag == "v2"


@pytest.mark.parametrize(
    ("existing", "expected"),
    [(b"", "L\n"), (b"a\n", "L\n"), (b"torn", "\nL\n"), (b"\xff", "\nL\n")],
)
def test_an_appended_line_starts_on_a_line_of_its_own(existing: bytes, expected: str) -> None:
    assert line_to_append(existing, "L") == expected


def test_lock_events_are_entries_in_order_and_not_releases() -> None:
    taken = LockEvent("lock", "2026-01-01T00:00:03", "ops@laptop", "db migration")
    freed = LockEvent("unlock", "2026-01-01T00:00:04", "ci", "db migration", "ops@laptop")
    ledger = read_ledger(ledger_bytes(V1, taken.to_line(), freed.to_line(), V2))
    assert ledger.entries == (release("v1", Outcome.HEALTHY, 1), taken, freed,
                              release("v2", Outcome.HEALTHY, 2))
    assert [r.tag for r in ledger.releases] == ["v1", "v2"]
    assert ledger.warnings == ()


@pytest.mark.parametrize(
    ("count", "limit", "expected"),
    [(5, 20, [0, 1, 2, 3, 4]), (5, 2, [3, 4]), (5, 0, []), (0, 3, []), (5, 5, [0, 1, 2, 3, 4])],
)
def test_newest(count: int, limit: int, expected: list[int]) -> None:
    entries = [release("v1", Outcome.HEALTHY, n) for n in range(count)]
    assert newest(list(entries), limit) == [entries[n] for n in expected]


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(InvalidInput, match="--limit -1 is refused"):
        newest([], -1)


@pytest.mark.parametrize("hostile", ["v1;id", "$(id)", "v1\nREGISTRY=evil", "-v1", "../v1"])
def test_a_rollback_target_from_a_tampered_ledger_is_refused(hostile: str) -> None:
    history = [release(hostile, Outcome.HEALTHY, 1), release("v2", Outcome.HEALTHY, 2)]
    with pytest.raises(InvalidInput, match=r"releases\.jsonl"):
        rollback_target(history, "v2", None)
    with pytest.raises(InvalidInput, match="refused"):
        rollback_target(history, "v2", hostile)


def test_a_manual_lock_never_expires_and_round_trips() -> None:
    lock = Lock("ops@laptop", "t0k", 100.0, None, "db migration")
    assert parse_lock(lock.to_text()) == lock
    assert lock.manual
    assert not lock.expired(100.0 + 10 * 365 * 86400)
    assert lock.describe(130.0) == (
        "ops@laptop (db migration), held by hand for 30s until someone runs `unlock`"
    )


def test_a_deployer_lease_is_renewed() -> None:
    lock = Lock("ci", "t0k", 100.0, None, "deploy").renewed(100.0, 30.0)
    assert (lock.expires_at, lock.renewed_at, lock.manual) == (130.0, 100.0, False)
    later = lock.renewed(125.0, 30.0)
    assert parse_lock(later.to_text()) == later
    assert not later.expired(154.9)
    assert later.expired(155.0)
    assert later.describe(140.0) == (
        "ci (deploy), held for 40s, last heartbeat 15s ago, stale in 15s"
    )


@pytest.mark.parametrize(("lease", "interval"), [(30.0, 5.0), (3.0, 0.75), (600.0, 5.0)])
def test_the_heartbeat_beats_well_within_the_lease(lease: float, interval: float) -> None:
    assert heartbeat_interval(lease) == interval


STARTED = release("v2", Outcome.STARTED, 2)
LIVE = Lock("ci", "t", 100.0, 130.0, "deploy", 100.0)


@pytest.mark.parametrize(
    ("lock", "now", "interrupted"),
    [
        (None, 110.0, True),  # no lock: the deployer is gone
        (LIVE, 110.0, False),  # a live lease: the attempt is in progress
        (LIVE, 131.0, True),  # the lease ran out
        (Lock("ops", "t", 100.0, None, "maintenance"), 110.0, True),  # taken by hand since
    ],
)
def test_status_reports_an_attempt_as_interrupted_only_when_its_deployer_is_gone(
    lock: Lock | None, now: float, interrupted: bool
) -> None:
    history = [release("v1", Outcome.HEALTHY, 1), STARTED]
    found = left_interrupted(history, lock, "v1", now, "2026-01-01T00:01:00")
    assert list(found) == (["v2-2"] if interrupted else [])
    if interrupted:
        assert (found["v2-2"].outcome, found["v2-2"].running_tag) == (Outcome.INTERRUPTED, "v1")
