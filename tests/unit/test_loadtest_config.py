"""The load gate's settings: flags over LOADTEST_* variables over defaults; bad values named."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ci.stages.loadtest import SKIPPED, child_environment, gate_config, last_json_line
from loadtest.config import SETTINGS, LoadConfig, add_flags, resolve, to_argv
from loadtest.errors import ConfigError
from loadtest.report import step_summary_markdown, summary_record
from loadtest.thresholds import Summary, Thresholds, judge

URL = "http://127.0.0.1:8000"


def test_defaults() -> None:
    assert resolve({}, {"LOADTEST_URL": URL + "/"}) == LoadConfig(
        url=URL, users=10, spawn_rate=10.0, duration_s=30,
        thresholds=Thresholds(max_failure_ratio=0.01, p95_ms=500.0, p99_ms=None),
        reports=Path("reports/loadtest"),
    )  # fmt: skip


READ = [
    # variable, text, field, value
    ("LOADTEST_USERS", "25", "users", 25),
    ("LOADTEST_SPAWN_RATE", "2.5", "spawn_rate", 2.5),
    ("LOADTEST_DURATION", "45", "duration_s", 45),
    ("LOADTEST_DURATION", "45s", "duration_s", 45),
    ("LOADTEST_DURATION", "2m", "duration_s", 120),
    ("LOADTEST_REPORTS", "out/lt", "reports", Path("out/lt")),
    ("LOADTEST_URL", "https://staging.example.com/api/", "url", "https://staging.example.com/api"),
]


@pytest.mark.parametrize(("variable", "text", "name", "value"), READ)
def test_variables_are_read(variable: str, text: str, name: str, value: object) -> None:
    config = resolve({}, {"LOADTEST_URL": URL, variable: text})
    assert getattr(config, name) == value


THRESHOLDS = [
    ("LOADTEST_MAX_FAILURE_RATIO", "0.05", Thresholds(max_failure_ratio=0.05)),
    ("LOADTEST_MAX_FAILURE_RATIO", "2%", Thresholds(max_failure_ratio=0.02)),
    ("LOADTEST_P95_MS", "250", Thresholds(p95_ms=250)),
    ("LOADTEST_P99_MS", "900", Thresholds(p99_ms=900)),
    ("LOADTEST_P95_MS", "", Thresholds()),  # empty is unset (an unset Actions variable)
]


@pytest.mark.parametrize(("variable", "text", "expected"), THRESHOLDS)
def test_threshold_variables(variable: str, text: str, expected: Thresholds) -> None:
    assert resolve({}, {"LOADTEST_URL": URL, variable: text}).thresholds == expected


def test_a_flag_beats_its_variable() -> None:
    config = resolve({"users": "3", "p95_ms": "100"},
                     {"LOADTEST_URL": URL, "LOADTEST_USERS": "50", "LOADTEST_P95_MS": "900"})
    assert (config.users, config.thresholds.p95_ms) == (3, 100)


REFUSED = [
    ("LOADTEST_USERS", "0"), ("LOADTEST_USERS", "ten"), ("LOADTEST_USERS", "1.5"),
    ("LOADTEST_USERS", "5000"), ("LOADTEST_SPAWN_RATE", "0"), ("LOADTEST_SPAWN_RATE", "nan"),
    ("LOADTEST_DURATION", "0"), ("LOADTEST_DURATION", "1h"), ("LOADTEST_DURATION", "-5"),
    ("LOADTEST_DURATION", "61m"), ("LOADTEST_MAX_FAILURE_RATIO", "0"),
    ("LOADTEST_MAX_FAILURE_RATIO", "1.5"), ("LOADTEST_MAX_FAILURE_RATIO", "150%"),
    ("LOADTEST_MAX_FAILURE_RATIO", "inf"), ("LOADTEST_P95_MS", "-1"), ("LOADTEST_P95_MS", "0"),
    ("LOADTEST_P95_MS", "500ms"), ("LOADTEST_P99_MS", "nan"),
    ("LOADTEST_URL", "ftp://example.com"), ("LOADTEST_URL", "staging.example.com"),
    ("LOADTEST_URL", "http://"), ("LOADTEST_URL", "http://example.com/?q=1"),
    ("LOADTEST_URL", "http://exa mple.com"),
]  # fmt: skip


@pytest.mark.parametrize(("variable", "text"), REFUSED)
def test_bad_values_are_refused_naming_the_variable_and_the_fix(variable: str, text: str) -> (
    None
):
    environ = {"LOADTEST_URL": URL, variable: text}
    with pytest.raises(ConfigError) as caught:
        resolve({}, environ)
    message = str(caught.value)
    assert message.startswith(f"{variable}: {text!r} is not ")
    assert "set it to a valid value or unset it" in message


def test_a_bad_flag_is_named_as_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--p95-ms: 'fast' is not milliseconds"):
        resolve({"p95_ms": "fast"}, {"LOADTEST_URL": URL})


def test_credentials_in_the_url_are_refused_without_being_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve({"url": "https://deploy:hunter2@staging.example.com"}, {})
    assert "hunter2" not in str(caught.value)
    assert "***@staging.example.com" in str(caught.value)


def test_no_url_says_how_to_give_one() -> None:
    with pytest.raises(ConfigError, match="pass --url URL or set LOADTEST_URL"):
        resolve({}, {})


def test_every_setting_is_a_flag_naming_its_variable() -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    text = parser.format_help()
    for setting in SETTINGS:
        assert setting.flag in text
        assert f"env {setting.variable}" in " ".join(text.split())


configs = st.builds(
    LoadConfig,
    url=st.sampled_from([URL, "https://staging.example.com/api"]),
    users=st.integers(1, 1000),
    spawn_rate=st.floats(0.01, 1000),
    duration_s=st.integers(1, 3600),
    thresholds=st.builds(Thresholds, max_failure_ratio=st.floats(0.0001, 1),
                         p95_ms=st.floats(0.1, 600_000),
                         p99_ms=st.none() | st.floats(0.1, 600_000)),
    reports=st.sampled_from([Path("reports/loadtest"), Path("/tmp/r")]),
)


@given(config=configs)
def test_the_child_runs_exactly_the_config(config: LoadConfig) -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    assert resolve(vars(parser.parse_args(list(to_argv(config)))), {}) == config


def test_the_stage_is_skipped_without_a_url_and_fails_on_a_bad_value() -> None:
    assert gate_config({"LOADTEST_URL": " "}, Path("r")) is None
    assert "LOADTEST_URL is not set" in SKIPPED
    config = gate_config({"LOADTEST_URL": URL, "LOADTEST_REPORTS": "elsewhere"}, Path("r/lt"))
    assert config is not None
    assert config.reports == Path("r/lt")  # the stage's report always goes with the others
    with pytest.raises(Exception, match="load gate: LOADTEST_USERS: 'many'"):
        gate_config({"LOADTEST_URL": URL, "LOADTEST_USERS": "many"}, Path("r"))


def test_the_child_gets_no_secret() -> None:
    environ = {"PATH": "/usr/bin", "HOME": "/root", "GITHUB_TOKEN": "ghp_x",
               "STAGING_SSH_KEY": "-----BEGIN", "SLACK_WEBHOOK_URL": "https://hooks"}
    assert child_environment(environ) == {"PATH": "/usr/bin", "HOME": "/root"}


@pytest.mark.parametrize(("stdout", "expected"), [
    ('noise\n{"exit_code": 0}\n', {"exit_code": 0}),
    ('{"exit_code": 11}\ntrailing words\n', {"exit_code": 11}),
    ("", None),
    ("[1, 2]\n", None),
])  # fmt: skip
def test_last_json_line(stdout: str, expected: dict[str, int] | None) -> None:
    assert last_json_line(stdout) == expected


def test_the_step_summary_line_names_numbers_bounds_and_report() -> None:
    config = LoadConfig(url=URL, users=5, duration_s=10)
    summary = Summary(requests=200, failures=1, p50_ms=5, p95_ms=612, p99_ms=700, rps=19.96)
    record = summary_record(config, summary, judge(summary, config.thresholds))
    assert step_summary_markdown(record, "reports/loadtest") == (
        f"**Load-test gate: failed (exit 11)** against {URL}: 200 requests, 0.50 % failed, "
        "p50 5 ms, p95 612 ms, p99 700 ms, 19.96 req/s with 5 users for 10 s; thresholds "
        "failure ratio < 1.00 %, p95 < 500 ms; failed: p95 612 ms is not below 500 ms. "
        "Report: `reports/loadtest/report.html` (artifact).\n\n"
    )


def test_the_pipeline_and_deployer_never_import_locust() -> None:
    """Locust gevent-patches whatever imports it: only `python -m loadtest` may."""
    code = ("import sys, ci.main, ci.runner, ci.stages, deploy.cli.main\n"
            "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60, check=True)
    assert done.stdout.strip() == "[]"
