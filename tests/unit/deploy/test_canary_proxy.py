"""Canary weights as nginx text, and per-colour numbers (p95) from the access log."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy.proxy import (
    DEFAULT_COLOUR_PORTS,
    ColourNumbers,
    colour_addresses,
    colour_numbers,
    live_upstream,
    parse_live_colour,
    parse_weights,
    percentile,
    weighted_upstream,
)

PORTS = DEFAULT_COLOUR_PORTS


def test_weighted_upstream_is_exact() -> None:
    assert weighted_upstream("blue", {"blue": 90, "green": 10}, host_network=True, ports=PORTS) == (
        "# Written by the deployer: a canary; blue is stable. Weights in percent.\n"
        'map $upstream_addr $shipyard_colour { default "blue";'
        ' "~(^|\\s)127\\.0\\.0\\.1:8001$" "blue"; "~(^|\\s)127\\.0\\.0\\.1:8002$" "green"; }\n'
        "upstream shipyard_live {\n"
        "    server 127.0.0.1:8001 weight=90 max_fails=0;\n"
        "    server 127.0.0.1:8002 weight=10 max_fails=0;\n"
        "}\n"
    )


@pytest.mark.parametrize(
    ("upstream_addr", "colour"),
    [("127.0.0.1:8002", "green"), ("127.0.0.1:8002, 127.0.0.1:8001", "blue"),
     ("127.0.0.1:8001, 127.0.0.1:8002", "green"), ("127.0.0.1:18002", "blue"), ("-", "blue")],
)
def test_the_logs_colour_is_the_one_that_answered(upstream_addr: str, colour: str) -> None:
    """nginx's map as a regex, evaluated the way nginx does (first match wins, else default)."""
    text = weighted_upstream("blue", {"blue": 50, "green": 50}, host_network=True, ports=PORTS)
    keys = re.findall(r'"~(.+?)" "(blue|green)";', text)
    found = next((c for pattern, c in keys if re.search(pattern, upstream_addr)), "blue")
    assert found == colour


def test_a_colour_at_weight_zero_is_left_out() -> None:
    text = weighted_upstream("green", {"blue": 0, "green": 100}, host_network=True, ports=PORTS)
    assert "8001 weight" not in text
    assert "server 127.0.0.1:8002 weight=100 max_fails=0;" in text


@pytest.mark.parametrize(
    ("text", "weights"),
    [
        (weighted_upstream("blue", {"blue": 50, "green": 50}, host_network=True, ports=PORTS),
         {"blue": 50, "green": 50}),
        (weighted_upstream("green", {"green": 90, "blue": 10}, host_network=False, ports=PORTS),
         {"blue": 10, "green": 90}),
        (live_upstream("green", host_network=True, ports=PORTS), {"blue": 0, "green": 100}),
        ("", {}),
    ],
)
def test_weights_read_back(text: str, weights: dict[str, int]) -> None:
    assert parse_weights(text, PORTS) == weights


@given(st.sampled_from(["blue", "green"]), st.integers(1, 99))
def test_the_stable_colour_is_still_the_serving_one(stable: str, weight: int) -> None:
    canary = "green" if stable == "blue" else "blue"
    weights = {stable: 100 - weight, canary: weight}
    text = weighted_upstream(stable, weights, host_network=True, ports=PORTS)
    assert parse_live_colour(text) == stable
    assert parse_weights(text, PORTS) == {stable: 100 - weight, canary: weight}


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [([], 0.95, 0.0), ([0.3], 0.95, 0.3), ([float(n) for n in range(1, 101)], 0.95, 95.0),
     ([float(n) for n in range(1, 21)], 0.95, 19.0), ([5.0, 1.0, 3.0], 0.5, 3.0)],
)
def test_percentile_by_nearest_rank(values: list[float], fraction: float, expected: float) -> None:
    assert percentile(values, fraction) == expected


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1))
def test_p95_is_one_of_the_values_and_bounds_95_percent(values: list[float]) -> None:
    p95 = percentile(values, 0.95)
    assert p95 in values
    assert sum(v <= p95 for v in values) >= 0.95 * len(values)


LOG = """\
1700000000.100\tblue\t200\t0.010\t127.0.0.1:8001\t200\tGET /version HTTP/1.1
1700000000.200\tgreen\t500\t0.020\t127.0.0.1:8002\t500\tGET /version HTTP/1.1
1700000000.300\tgreen\t200\t0.300\t127.0.0.1:8002\t200\tGET /slow HTTP/1.1
1700000000.400\tblue\t502\t0.001\t127.0.0.1:8001\t502\tGET / HTTP/1.1
torn line\tgreen
"""


def test_numbers_per_colour_from_the_log() -> None:
    assert colour_numbers(LOG.splitlines(), colour_addresses(PORTS)) == {
        "blue": ColourNumbers(2, 1, 0.010),
        "green": ColourNumbers(2, 1, 0.300),
    }
    assert ColourNumbers(2, 1, 0.3).describe() == "2 requests, 1 5xx (50.0%), p95 300 ms"
    assert ColourNumbers(40, 5, 0.003, retried=4).describe() == (
        "40 requests, 5 5xx (12.5%; 4 failed attempts: refused, reset or timed out, retried by "
        "nginx elsewhere), p95 3 ms")
