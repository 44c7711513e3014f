"""Every attempt nginx made for a request, from the access log, counted for its own colour:
tables of log lines (multi-attempt, "-", the format before $upstream_status) and a property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy.attempts import Attempt, parse_attempts
from deploy.canary_policy import Decision, Thresholds, judge_step
from deploy.proxy import (
    DEFAULT_COLOUR_PORTS,
    ColourNumbers,
    colour_addresses,
    colour_numbers,
    parse_access_line,
)

BLUE, GREEN = "127.0.0.1:8001", "127.0.0.1:8002"
ADDRESSES = colour_addresses(DEFAULT_COLOUR_PORTS)


def line(colour: str, status: int, addresses: str, statuses: str | None,
         seconds: float = 0.004) -> str:  # fmt: skip
    """An access-log line as nginx writes it; statuses None: the format before them."""
    fields = ["1764150000.100", colour, str(status), f"{seconds:.3f}", addresses]
    if statuses is not None:
        fields.append(statuses)
    return "\t".join([*fields, "GET /version HTTP/1.1"])


def test_the_addresses_are_the_colours_ports() -> None:
    assert ADDRESSES == {BLUE: "blue", GREEN: "green"}
    assert colour_addresses((9001, 9002)) == {"127.0.0.1:9001": "blue", "127.0.0.1:9002": "green"}


@pytest.mark.parametrize(
    ("addresses", "statuses", "status", "attempts"),
    [
        (GREEN, "200", 200, [(GREEN, 200, False)]),
        (GREEN, "500", 500, [(GREEN, 500, True)]),
        # refused (or reset, or closed unanswered) on green, answered by blue
        (f"{GREEN}, {BLUE}", "502, 200", 200, [(GREEN, 502, True), (BLUE, 200, False)]),
        (f"{GREEN}, {BLUE}", "504, 200", 200, [(GREEN, 504, True), (BLUE, 200, False)]),
        (f"{GREEN}, {BLUE}", "-, 200", 200, [(GREEN, None, True), (BLUE, 200, False)]),
        (f"{BLUE}, {GREEN}", "502, 502", 502, [(BLUE, 502, True), (GREEN, 502, True)]),
        # the format before $upstream_status: nginx moved on, so the first attempt failed
        (f"{GREEN}, {BLUE}", None, 200, [(GREEN, None, True), (BLUE, None, False)]),
        (GREEN, None, 503, [(GREEN, None, True)]),
        # "-" for the answer: the request's own status says (499: the client went away)
        (GREEN, "-", 499, [(GREEN, None, False)]),
        (GREEN, "-", 502, [(GREEN, None, True)]),
        # upstream groups (an internal redirect) are joined by " : "
        (f"{GREEN}, {BLUE} : {BLUE}", "502, 200 : 200", 200,
         [(GREEN, 502, True), (BLUE, 200, False), (BLUE, 200, False)]),
        # statuses that do not line up with the addresses are not trusted
        (f"{GREEN}, {BLUE}", "502", 200, [(GREEN, None, True), (BLUE, None, False)]),
        ("-", "-", 400, []),  # nginx answered itself: no attempt
    ],
)
def test_attempts_of_one_request(
    addresses: str, statuses: str | None, status: int,
    attempts: list[tuple[str, int | None, bool]],
) -> None:
    found = parse_attempts(addresses, statuses, status)
    assert [(a.address, a.status, a.failed) for a in found] == attempts
    assert [a.answered for a in found] == [i == len(found) - 1 for i in range(len(found))]


# Each row: log lines → the numbers per colour (requests, errors, p95, retried).
TABLES = [
    ("one answer each",
     [line("blue", 200, BLUE, "200", 0.010), line("green", 200, GREEN, "200", 0.020)],
     {"blue": ColourNumbers(1, 0, 0.010), "green": ColourNumbers(1, 0, 0.020)}),
    ("green refused, blue answered: a failure of green, an answer of blue",
     [line("blue", 200, f"{GREEN}, {BLUE}", "502, 200", 0.003)],
     {"green": ColourNumbers(1, 1, 0.0, retried=1), "blue": ColourNumbers(1, 0, 0.0)}),
    ("the same line in the format before $upstream_status",
     [line("blue", 200, f"{GREEN}, {BLUE}", None, 0.003)],
     {"green": ColourNumbers(1, 1, 0.0, retried=1), "blue": ColourNumbers(1, 0, 0.0)}),
    ("timed out and '-' on green; green's own 500; blue answers",
     [line("blue", 200, f"{GREEN}, {BLUE}", "504, 200"),
      line("blue", 200, f"{GREEN}, {BLUE}", "-, 200"),
      line("green", 500, GREEN, "500", 0.001),
      line("blue", 200, BLUE, "200", 0.002)],
     {"green": ColourNumbers(3, 3, 0.001, retried=2), "blue": ColourNumbers(3, 0, 0.002)}),
    ("old and new lines mixed (init rewrote the format midway); torn lines skipped",
     [line("green", 200, GREEN, None, 0.005), line("green", 200, GREEN, "200", 0.007),
      line("blue", 200, f"{GREEN}, {BLUE}", None), "garbage", "1764150000.1\tgreen\t2"],
     {"green": ColourNumbers(3, 1, 0.007, retried=1), "blue": ColourNumbers(1, 0, 0.0)}),
    ("both failed: the user got 502, each colour has one failure",
     [line("blue", 502, f"{BLUE}, {GREEN}", "502, 502")],
     {"blue": ColourNumbers(1, 1, 0.0, retried=1), "green": ColourNumbers(1, 1, 0.0)}),
    ("an address not in the map counts for the line's colour only as the answer",
     [line("blue", 200, "10.0.0.9:80, 10.0.0.8:80", "502, 200", 0.004),
      line("blue", 400, "-", "-", 0.001)],
     {"blue": ColourNumbers(2, 0, 0.001)}),  # a retried request's time is not in a p95
]


@pytest.mark.parametrize(("lines", "numbers"), [row[1:] for row in TABLES],
                         ids=[row[0] for row in TABLES])  # fmt: skip
def test_numbers_per_colour_count_every_attempt(
    lines: list[str], numbers: dict[str, ColourNumbers]
) -> None:
    assert colour_numbers(lines, ADDRESSES) == numbers


def test_an_old_format_line_still_parses() -> None:
    answer = parse_access_line(line("blue", 200, f"{GREEN}, {BLUE}", None))
    assert answer is not None
    assert (answer.colour, answer.status, answer.request) == ("blue", 200, "GET /version HTTP/1.1")
    assert answer.attempts == (Attempt(GREEN, None, True, False), Attempt(BLUE, None, False, True))


def test_a_canary_that_keeps_dropping_connections_is_aborted_not_passed() -> None:
    """The case of issue 18: every 30th request the canary's process dies; nginx retries it
    and the attempts during the restart on blue. Users get 200s; the canary fails its step."""
    lines = []
    for n in range(400):
        if n % 4:  # blue's 75 %
            lines.append(line("blue", 200, BLUE, "200"))
        elif n % 120 < 100:  # the canary answers ...
            lines.append(line("green", 200, GREEN, "200"))
        else:  # ... then dies: dropped, then refused while it restarts
            lines.append(line("blue", 200, f"{GREEN}, {BLUE}", "502, 200"))
    numbers = colour_numbers(lines, ADDRESSES)
    verdict = judge_step(numbers["green"], numbers["blue"], Thresholds(min_requests=60),
                         step_over=False)  # fmt: skip
    assert verdict.decision is Decision.ABORT
    assert verdict.reasons == ("5xx ratio 15.0% (15 of 100; 15 failed attempts: refused, reset "
                               "or timed out, retried by nginx elsewhere) > 1.0%",)
    assert numbers["blue"].errors == 0


ATTEMPT = st.tuples(st.sampled_from([BLUE, GREEN]), st.sampled_from(["502", "504", "-"]))
ANSWER = st.tuples(st.sampled_from([BLUE, GREEN]), st.sampled_from([200, 404, 499, 500, 503]))


@given(st.lists(st.tuples(st.lists(ATTEMPT, max_size=2), ANSWER), max_size=30))
def test_every_attempt_counts_once_and_both_formats_agree(
    requests: list[tuple[list[tuple[str, str]], tuple[str, int]]],
) -> None:
    new, old = [], []
    attempts = failures = retried = 0
    for failed, (address, status) in requests:
        addresses = ", ".join([a for a, _ in failed] + [address])
        statuses = ", ".join([s for _, s in failed] + [str(status)])
        colour = ADDRESSES[address]
        new.append(line(colour, status, addresses, statuses))
        old.append(line(colour, status, addresses, None))
        attempts += len(failed) + 1
        retried += len(failed)
        failures += len(failed) + (status >= 500)
    numbers = colour_numbers(new, ADDRESSES)
    assert colour_numbers(old, ADDRESSES) == numbers
    assert sum(n.requests for n in numbers.values()) == attempts
    assert sum(n.errors for n in numbers.values()) == failures
    assert sum(n.retried for n in numbers.values()) == retried
    assert all(0 <= n.retried <= n.errors <= n.requests for n in numbers.values())
