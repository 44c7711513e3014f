"""Runs the profile with Locust in this process; importing it gevent-patches the process."""

from __future__ import annotations

# isort: off
import locust  # noqa: F401 - first: it patches sockets and ssl before httpx imports them
# isort: on

import csv
import json
from pathlib import Path
from typing import Any

import gevent  # untyped: pyproject.toml tells mypy to ignore its missing stubs
import httpx
from locust.env import Environment
from locust.html import get_html_report
from locust.stats import StatsCSV, StatsEntry

from loadtest.config import LoadConfig
from loadtest.errors import TargetError
from loadtest.locustfile import user_class
from loadtest.report import summary_record
from loadtest.thresholds import Summary, judge

PERCENTILES = [0.5, 0.95, 0.99]
PREFLIGHT_TIMEOUT_S = 5.0


def preflight(url: str, health_path: str) -> None:
    """One request first: a target that cannot be reached at all is an error, not a verdict."""
    try:
        httpx.get(f"{url}{health_path}", timeout=PREFLIGHT_TIMEOUT_S)
    except httpx.TransportError as error:
        raise TargetError(f"{url} cannot be reached ({type(error).__name__}: {error}): is the "
                          "service up, and is the URL right?") from None


def run_load(config: LoadConfig) -> Environment:
    """`users` users, started at `spawn_rate` per second, for `duration_s` seconds."""
    env = Environment(user_classes=[user_class(config.profile)], host=config.url)
    runner = env.create_local_runner()
    runner.start(config.users, spawn_rate=config.spawn_rate)
    gevent.spawn_later(config.duration_s, runner.quit)
    assert runner.greenlet is not None
    runner.greenlet.join()
    return env


def measured(total: StatsEntry) -> Summary:
    """Locust's aggregated row as the gate's numbers."""
    p50, p95, p99 = (float(total.get_response_time_percentile(p) or 0) for p in PERCENTILES)
    return Summary(requests=total.num_requests, failures=total.num_failures,
                   p50_ms=p50, p95_ms=p95, p99_ms=p99, rps=float(total.total_rps or 0))


def write_reports(env: Environment, folder: Path, record: dict[str, Any]) -> None:
    """Locust's CSV stats and failures, its HTML report, and the summary as JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    stats = StatsCSV(env, PERCENTILES)
    with (folder / "stats.csv").open("w", newline="", encoding="utf-8") as handle:
        stats.requests_csv(csv.writer(handle))
    with (folder / "failures.csv").open("w", newline="", encoding="utf-8") as handle:
        stats.failures_csv(csv.writer(handle))
    html = get_html_report(env, show_download_link=False)  # type: ignore[no-untyped-call]
    (folder / "report.html").write_text(html, encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def load_test(config: LoadConfig) -> dict[str, Any]:
    """Preflight, load, judge, write the reports; the summary record (with its exit code)."""
    preflight(config.url, config.profile.health_path)
    env = run_load(config)
    summary = measured(env.stats.total)
    record = summary_record(config, summary, judge(summary, config.thresholds))
    write_reports(env, config.reports, record)
    return record
