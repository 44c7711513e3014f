"""Pure: a run's numbers and verdict → the JSON summary line and the step-summary line."""

from __future__ import annotations

import json
from typing import Any

from loadtest.config import LoadConfig
from loadtest.thresholds import Summary, Verdict, percent

REPORT_FILES = ("summary.json", "stats.csv", "failures.csv", "report.html")


def summary_record(config: LoadConfig, summary: Summary, verdict: Verdict) -> dict[str, Any]:
    """The one JSON line `python -m loadtest` prints (and saves as summary.json)."""
    return {
        "url": config.url,
        "users": config.users,
        "duration_s": config.duration_s,
        "requests": summary.requests,
        "failures": summary.failures,
        "failure_ratio": round(summary.failure_ratio, 6),
        "p50_ms": summary.p50_ms,
        "p95_ms": summary.p95_ms,
        "p99_ms": summary.p99_ms,
        "rps": round(summary.rps, 2),
        "thresholds": config.thresholds.describe(),
        "passed": verdict.passed,
        "exit_code": verdict.exit_code,
        "breached": [breach.name for breach in verdict.breaches],
        "verdict": verdict.reason,
    }


def summary_line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True)


def numbers_text(record: dict[str, Any]) -> str:
    """`1200 requests, 0.00 % failed, p50 3 ms, p95 12 ms, p99 20 ms, 40.1 req/s`."""
    return (f"{record['requests']} requests, {percent(record['failure_ratio'])} failed, "
            f"p50 {record['p50_ms']:g} ms, p95 {record['p95_ms']:g} ms, "
            f"p99 {record['p99_ms']:g} ms, {record['rps']:g} req/s")


def step_summary_markdown(record: dict[str, Any], report_dir: str) -> str:
    """One line for GitHub's step summary, naming the numbers, the bounds and the report."""
    verdict = "passed" if record["passed"] else f"failed (exit {record['exit_code']})"
    return (f"**Load-test gate: {verdict}** against {record['url']}: {numbers_text(record)} "
            f"with {record['users']} users for {record['duration_s']} s; "
            f"thresholds {record['thresholds']}; {record['verdict']}. "
            f"Report: `{report_dir}/report.html` (artifact).\n\n")
