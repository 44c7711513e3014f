"""Release history and locks: parse, append, pick the rollback target."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy.errors import NothingToRollBack
from deploy.ledger import (
    Kind,
    Lock,
    Outcome,
    Release,
    append_record,
    mark_interrupted,
    parse_ledger,
    parse_lock,
    rollback_target,
    unfinished,
)


def release(tag: str, outcome: Outcome, n: int = 0) -> Release:
    return Release(
        id=f"{tag}-{n}", kind=Kind.DEPLOY, tag=tag, image=f"r/app:{tag}", digest=None,
        outcome=outcome, started_at=f"2026-01-01T00:00:{n:02d}", finished_at=None,
        deployed_by="me", phases=(("pull", 1.5),),
    )


def test_round_trip_and_latest_record_per_id_wins() -> None:
    started = release("v1", Outcome.STARTED)
    text = append_record(append_record("", started), replace(started, outcome=Outcome.HEALTHY))
    assert parse_ledger(text) == [replace(started, outcome=Outcome.HEALTHY)]


def test_a_torn_last_line_is_ignored() -> None:
    text = append_record("", release("v1", Outcome.HEALTHY)) + '{"id": "x", "ki'
    assert [r.tag for r in parse_ledger(text)] == ["v1"]
    assert append_record("A", release("v2", Outcome.HEALTHY)).startswith("A\n")


HISTORY = [
    release("v1", Outcome.HEALTHY, 1),
    release("v2", Outcome.HEALTHY, 2),
    release("v3", Outcome.FAILED, 3),
    release("v2", Outcome.HEALTHY, 4),
]


@pytest.mark.parametrize(
    ("current", "to", "expected"),
    [("v2", None, "v1"), ("v1", None, "v2"), ("v2", "v1", "v1"), (None, None, "v2")],
)
def test_rollback_target(current: str | None, to: str | None, expected: str) -> None:
    assert rollback_target(HISTORY, current, to) == expected


def test_rollback_to_a_tag_that_never_passed() -> None:
    with pytest.raises(NothingToRollBack, match=r"'v3' never passed.*v2, v1"):
        rollback_target(HISTORY, "v2", "v3")


def test_nothing_to_roll_back_to() -> None:
    with pytest.raises(NothingToRollBack, match="running: v1"):
        rollback_target([release("v1", Outcome.HEALTHY)], "v1", None)


def test_interrupted_attempt_says_what_runs() -> None:
    started = release("v2", Outcome.STARTED)
    assert unfinished([started, release("v1", Outcome.HEALTHY)]) == [started]
    done = mark_interrupted(started, "v1", "now")
    assert (done.outcome, done.running_tag) == (Outcome.INTERRUPTED, "v1")
    assert "found v1 running" in done.message


@given(st.lists(st.sampled_from(["v1", "v2", "v3"]), min_size=1), st.sampled_from(["v1", "v2"]))
def test_rollback_never_picks_the_running_or_a_failed_tag(tags: list[str], current: str) -> None:
    history = [release(tag, Outcome.HEALTHY if tag != "v3" else Outcome.FAILED, i)
               for i, tag in enumerate(tags)]
    try:
        target = rollback_target(history, current, None)
    except NothingToRollBack:
        assert all(t in (current, "v3") for t in tags)
        return
    assert target not in (current, "v3")


def test_lock_round_trip_and_expiry() -> None:
    lock = Lock("ci@runner", "t0k", 100.0, 160.0, "deploy")
    assert parse_lock(lock.to_text()) == lock
    assert not lock.expired(159.9)
    assert lock.expired(160.0)
    assert lock.describe(120.0) == (
        "ci@runner (deploy), held for 20s, last heartbeat 20s ago, stale in 40s"
    )
    assert parse_lock("") is None
    assert parse_lock("{}") is None
