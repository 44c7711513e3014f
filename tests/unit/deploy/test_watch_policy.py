"""The watch's tally of the proxy's log, the user-visible window of a bad colour, the host
commands it needs (follow a log, read the host's clock) and the ledger field (pure tables)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy import commands as cmd
from deploy.ledger import Outcome, parse_ledger
from deploy.proxy import LOG_FIELDS, ColourStats
from deploy.watch_policy import Tally, UserVisible, combined, complete_lines, user_visible
from tests.unit.deploy.test_ledger import release


def log_line(at: float, colour: str, status: int, seconds: float = 0.004) -> str:
    """One access-log line in the `shipyard` format, whatever its fields are today."""
    values = {"$msec": f"{at:.3f}", "$shipyard_colour": colour, "$status": str(status),
              "$request_time": f"{seconds:.3f}", "$upstream_addr": "127.0.0.1:8002",
              "$upstream_status": str(status), "$request": "GET /version HTTP/1.1"}  # fmt: skip
    return "\t".join(values.get(field, "-") for field in LOG_FIELDS)


def test_the_tally_counts_the_watched_colour_and_times_its_first_and_last_5xx() -> None:
    tally = Tally("green").read([
        log_line(100.000, "blue", 200), log_line(100.010, "green", 200),
        log_line(100.020, "green", 500), "torn\tline", log_line(100.030, "green", 502, 1.5),
    ]).read([log_line(100.050, "green", 500), log_line(100.060, "blue", 200)])  # fmt: skip
    assert tally.stats == ColourStats(requests=4, errors=3, slowest=1.5)
    assert (tally.first_error_at, tally.last_error_at) == (100.020, 100.050)
    assert tally.other_started_at == pytest.approx(100.056)  # $msec less $request_time


def test_lines_arriving_out_of_order_keep_the_earliest_and_latest_5xx() -> None:
    tally = Tally("green").read([log_line(5.0, "green", 500)]).read(
        [log_line(4.0, "green", 500), log_line(4.5, "green", 200)])
    assert (tally.first_error_at, tally.last_error_at, tally.stats.errors) == (4.0, 5.0, 2)


def test_the_tally_reads_in_batches_as_it_reads_at_once() -> None:
    lines = [log_line(100 + n / 100, ("blue", "green")[n % 3 == 0], (200, 500)[n % 4 == 0])
             for n in range(40)]  # fmt: skip
    once = Tally("green").read(lines)
    batched = Tally("green")
    for start in range(0, 40, 7):
        batched = batched.read(lines[start : start + 7])
    assert batched == once


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.floats(0, 9)), max_size=3))
def test_combined_stats_add_counts_and_keep_the_slowest(
    parts: list[tuple[int, int, float]],
) -> None:
    total = ColourStats()
    for requests, errors, slowest in parts:
        total = combined(total, ColourStats(requests, errors, slowest))
    assert total.requests == sum(p[0] for p in parts)
    assert total.errors == sum(p[1] for p in parts)
    assert total.slowest == max((p[2] for p in parts), default=0.0)


@pytest.mark.parametrize(("lines", "served_at", "expected"), [
    ([], 200.0, None),  # no 5xx: users saw nothing
    ([log_line(100.0, "green", 200)], 200.0, None),
    ([log_line(100.0, "green", 500), log_line(100.1, "green", 500)], 100.25,
     UserVisible(0.25, 2)),  # from the first 5xx to the reload, on the host's clock
    ([log_line(100.0, "green", 500), log_line(100.4, "green", 500)], 100.25,
     UserVisible(0.4, 2)),  # a 5xx logged after the reload (in flight) extends the window
    ([log_line(100.0, "green", 500), log_line(100.1, "green", 500)], None,
     UserVisible(0.1, 2)),  # the host's clock unreadable: up to the last 5xx
    ([log_line(100.0, "blue", 500)], 100.2, None),  # the other colour's 5xx are not its own
])  # fmt: skip
def test_the_user_visible_window(
    lines: list[str], served_at: float | None, expected: UserVisible | None
) -> None:
    assert user_visible(Tally("green").read(lines), served_at) == expected


def test_the_window_is_told_in_words() -> None:
    assert UserVisible(0.213, 31).describe() == (
        "users got 31 answers 5xx over 0.21s (from the first 5xx to the old colour serving, "
        "on the host's clock)")
    assert UserVisible(0.0, 1).describe().startswith("users got 1 answer 5xx over 0.00s")


@pytest.mark.parametrize(("served_at", "other", "settled"), [
    (100.0, [], False),
    (100.0, [(99.9, 0.004)], False),
    (100.0, [(100.004, 0.004)], True),
    (100.0, [(100.3, 0.004)], True),
    (100.0, [(100.3, 1.0)], False),  # a long request begun before the reload proves nothing
])  # fmt: skip
def test_settled_once_the_old_colour_answered_a_request_begun_after_the_reload(
    served_at: float, other: list[tuple[float, float]], settled: bool
) -> None:
    tally = Tally("green").read(log_line(at, "blue", 200, seconds) for at, seconds in other)
    assert tally.settled(served_at) is settled


@pytest.mark.parametrize(("text", "lines", "used"), [
    ("", [], 0),
    ("a\nb\n", ["a", "b"], 4),
    ("a\nhalf", ["a"], 2),  # a line being written is read again at the next poll
    ("é\n", ["é"], 3),  # bytes, not characters: the next read starts after them
])  # fmt: skip
def test_complete_lines_of_a_poll(text: str, lines: list[str], used: int) -> None:
    assert complete_lines(text) == (lines, used)


def test_follow_from_ends_its_tail_when_the_channel_closes_and_the_clock_commands() -> None:
    command = cmd.follow_from("/a/proxy/logs/access.log", 10, 20.5)
    assert command.argv == (
        "timeout", "81", "sh", "-c",
        'tail -c "+$2" -F -- "$1" 2>/dev/null & t=$!; cat >/dev/null; kill "$t" 2>/dev/null',
        "follow", "/a/proxy/logs/access.log", "11")  # fmt: skip
    assert cmd.host_clock().argv == ("date", "+%s.%N")
    assert cmd.proxy_signal_back("c0ffee", "/a/live.upstream.back", "/a/live.upstream").argv == (
        "sh", "-c",
        'mv -f "$2" "$3" && docker kill --signal HUP "$1" >/dev/null && exec date +%s.%N',
        "switch-back", "c0ffee", "/a/live.upstream.back", "/a/live.upstream")  # fmt: skip


@pytest.mark.parametrize(("output", "seconds"), [
    ("1764150000.123456789\n", 1764150000.123456789),
    ("1764150000.%N\n", 1764150000.0),  # busybox date: whole seconds
    ("1764150000\n", 1764150000.0),
    ("", None), ("date: invalid\n", None),
])  # fmt: skip
def test_the_hosts_clock_is_parsed(output: str, seconds: float | None) -> None:
    assert cmd.parse_host_clock(output) == seconds


def test_the_ledger_keeps_the_5xx_users_got_and_omits_the_field_otherwise() -> None:
    failed = replace(release("bad", Outcome.FAILED, 1), user_errors=31,
                     phases=(("user_visible", 0.213), ("watch", 0.1)))  # fmt: skip
    plain = release("v1", Outcome.HEALTHY, 2)
    assert "user_errors" not in plain.to_line()
    assert parse_ledger(failed.to_line() + "\n" + plain.to_line()) == [failed, plain]
