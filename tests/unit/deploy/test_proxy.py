"""The proxy's config as text, the access log as per-colour numbers, the watch verdict."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy.proxy import (
    DEFAULT_COLOUR_PORTS,
    ColourStats,
    WatchPolicy,
    colour_stats,
    live_upstream,
    other,
    parse_access_line,
    parse_live_colour,
    site_config,
    watch_verdict,
)


def test_live_upstream_on_host_networking_is_exact() -> None:
    assert live_upstream("green", host_network=True, ports=DEFAULT_COLOUR_PORTS) == (
        "# Written by the deployer: green serves. Swapped atomically at each switch.\n"
        'map $host $shipyard_colour { default "green"; }\n'
        "upstream shipyard_live {\n"
        "    server 127.0.0.1:8002 max_fails=0;\n"
        "}\n"
    )


@pytest.mark.parametrize(
    ("colour", "host_network", "server"),
    [("blue", True, "127.0.0.1:8001"), ("green", True, "127.0.0.1:8002"),
     ("blue", False, "api-blue:8000"), ("green", False, "api-green:8000")],
)
def test_where_the_proxy_reaches_each_colour(colour: str, host_network: bool, server: str) -> None:
    text = live_upstream(colour, host_network=host_network, ports=DEFAULT_COLOUR_PORTS)
    assert f"server {server} " in text
    assert parse_live_colour(text) == colour


@pytest.mark.parametrize("text", [None, "", "upstream x { server a:1; }", 'default "red";'])
def test_a_file_that_is_not_ours_has_no_live_colour(text: str | None) -> None:
    assert parse_live_colour(text) is None


def test_site_config_logs_colour_status_and_time_and_streams_unbuffered() -> None:
    text = site_config("127.0.0.1:8000")
    assert "listen 127.0.0.1:8000;" in text
    assert ('log_format shipyard "$msec\\t$shipyard_colour\\t$status\\t$request_time'
            '\\t$upstream_addr\\t$upstream_status\\t$request";') in text
    assert "include /etc/nginx/conf.d/live.upstream;" in text
    assert "access_log /var/log/shipyard/access.log shipyard;" in text
    assert "proxy_buffering off;" in text
    assert text.index("include") < text.index("server {")  # the upstream exists before use


def test_other_colour() -> None:
    assert (other("blue"), other("green")) == ("green", "blue")


LOG = (
    "1764150000.100\tblue\t200\t0.004\t127.0.0.1:8001\tGET /version HTTP/1.1\n"
    "1764150000.200\tgreen\t200\t1.002\t127.0.0.1:8002\tGET /slow HTTP/1.1\n"
    "1764150000.300\tgreen\t500\t0.010\t127.0.0.1:8002\tGET /version HTTP/1.1\n"
    "1764150000.400\tgreen\t502\t0.000\t127.0.0.1:8002\tGET / HTTP/1.1\n"
    "1764150000.500\tgreen\t404\t0.003\t127.0.0.1:8002\tGET /nope HTTP/1.1\n"
    "garbage line\n"
    "1764150000.600\tblue\t2"  # a line torn by the read
)


def test_access_log_to_per_colour_stats() -> None:
    assert colour_stats(LOG.splitlines()) == {
        "blue": ColourStats(requests=1, errors=0, slowest=0.004),
        "green": ColourStats(requests=4, errors=2, slowest=1.002),
    }


def test_one_access_line() -> None:
    answer = parse_access_line(LOG.splitlines()[1])
    assert answer is not None
    assert (answer.colour, answer.status, answer.seconds, answer.request) == (
        "green", 200, 1.002, "GET /slow HTTP/1.1")


@given(st.text())
def test_any_text_parses_without_error(text: str) -> None:
    stats = colour_stats(text.splitlines())
    assert all(0 <= s.errors <= s.requests for s in stats.values())


POLICY = WatchPolicy(max_error_ratio=0.05, min_errors=3, failed_probes=2)


@pytest.mark.parametrize(
    ("stats", "probes", "degraded"),
    [
        (ColourStats(0, 0), [], None),
        (ColourStats(100, 2), [True], None),  # 2 errors: below min_errors
        (ColourStats(100, 5), [True], None),  # 5 %: not above the ratio
        (ColourStats(100, 6), [True], "6 of 100 answers through the proxy were 5xx (6% > 5%)"),
        (ColourStats(3, 3), [True], "3 of 3 answers through the proxy were 5xx (100% > 5%)"),
        (ColourStats(10, 0), [True, False], None),
        (ColourStats(10, 0), [False, True, False], None),
        (ColourStats(10, 0), [True, False, False], "2 health probes in a row failed"),
    ],
)
def test_watch_verdict(stats: ColourStats, probes: list[bool], degraded: str | None) -> None:
    assert watch_verdict(stats, probes, POLICY) == degraded


def test_the_watch_reads_the_format_with_upstream_status_and_the_one_before_alike() -> None:
    old = "1764150000.300\tgreen\t500\t0.010\t127.0.0.1:8002\tGET /version HTTP/1.1"
    new = "1764150000.300\tgreen\t500\t0.010\t127.0.0.1:8002\t500\tGET /version HTTP/1.1"
    assert colour_stats([old]) == colour_stats([new]) == {"green": ColourStats(1, 1, 0.010)}
