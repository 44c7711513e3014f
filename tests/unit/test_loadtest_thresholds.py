"""The load gate's verdict: numbers in → breaches and exit code out, as a table and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.thresholds import (
    EXIT_ERROR,
    EXIT_FAILURE_RATIO,
    EXIT_P95,
    EXIT_P99,
    EXIT_PASSED,
    Summary,
    Thresholds,
    judge,
)

DEFAULT = Thresholds()
WITH_P99 = Thresholds(p99_ms=800)


def numbers(requests: int = 1000, failures: int = 0, p95: float = 100, p99: float = 200) -> (
    Summary
):
    return Summary(requests=requests, failures=failures, p50_ms=10, p95_ms=p95, p99_ms=p99,
                   rps=50.0)


VERDICTS = [
    # summary, thresholds, exit code, breached, message part
    (numbers(), DEFAULT, EXIT_PASSED, [], "passed: failure ratio < 1.00 %, p95 < 500 ms"),
    (numbers(failures=9), DEFAULT, EXIT_PASSED, [], "passed"),
    (numbers(failures=10), DEFAULT, EXIT_FAILURE_RATIO, ["failure ratio"],
     "failure ratio 1.00 % is not below 1.00 %"),
    (numbers(p95=499.9), DEFAULT, EXIT_PASSED, [], "passed"),
    (numbers(p95=500), DEFAULT, EXIT_P95, ["p95"], "p95 500 ms is not below 500 ms"),
    (numbers(p95=610), DEFAULT, EXIT_P95, ["p95"], "p95 610 ms is not below 500 ms"),
    (numbers(failures=1000, p95=610), DEFAULT, EXIT_FAILURE_RATIO, ["failure ratio", "p95"],
     "failure ratio 100.00 % is not below 1.00 %; p95 610 ms is not below 500 ms"),
    (numbers(p99=5000), DEFAULT, EXIT_PASSED, [], "passed"),  # p99 is off by default
    (numbers(p99=800), WITH_P99, EXIT_P99, ["p99"], "p99 800 ms is not below 800 ms"),
    (numbers(p95=600, p99=900), WITH_P99, EXIT_P95, ["p95", "p99"], "p95 600 ms"),
    (numbers(requests=0), DEFAULT, EXIT_ERROR, [], "no request completed"),
]  # fmt: skip


@pytest.mark.parametrize(("summary", "thresholds", "code", "breached", "message"), VERDICTS)
def test_verdicts(
    summary: Summary, thresholds: Thresholds, code: int, breached: list[str], message: str
) -> None:
    verdict = judge(summary, thresholds)
    assert verdict.exit_code == code
    assert [breach.name for breach in verdict.breaches] == breached
    assert message in verdict.reason
    assert verdict.passed == (code == EXIT_PASSED)


def test_exit_codes_are_distinct() -> None:
    codes = [EXIT_PASSED, EXIT_ERROR, 2, EXIT_FAILURE_RATIO, EXIT_P95, EXIT_P99]
    assert len(set(codes)) == len(codes)


summaries = st.builds(
    lambda requests, failed, p95, extra: Summary(
        requests=requests, failures=min(failed, requests), p50_ms=p95 / 2, p95_ms=p95,
        p99_ms=p95 + extra, rps=1.0),
    st.integers(0, 10_000), st.integers(0, 10_000),
    st.floats(0, 10_000, allow_nan=False), st.floats(0, 10_000, allow_nan=False),
)  # fmt: skip
thresholds = st.builds(
    Thresholds,
    max_failure_ratio=st.floats(0.0001, 1),
    p95_ms=st.floats(1, 5000),
    p99_ms=st.none() | st.floats(1, 5000),
)


@given(summary=summaries, limits=thresholds)
def test_the_exit_code_is_the_lowest_breached_and_zero_only_without_breaches(
    summary: Summary, limits: Thresholds
) -> None:
    verdict = judge(summary, limits)
    if summary.requests == 0:
        assert verdict.exit_code == EXIT_ERROR
        return
    assert (verdict.exit_code == EXIT_PASSED) == (not verdict.breaches)
    if verdict.breaches:
        assert verdict.exit_code == min(breach.exit_code for breach in verdict.breaches)
        assert all(str(breach) in verdict.reason for breach in verdict.breaches)
    assert (EXIT_FAILURE_RATIO in {b.exit_code for b in verdict.breaches}) == (
        summary.failure_ratio >= limits.max_failure_ratio)
    assert (EXIT_P95 in {b.exit_code for b in verdict.breaches}) == (
        summary.p95_ms >= limits.p95_ms)


@given(summary=summaries, limits=thresholds, factor=st.floats(0.01, 1))
def test_tighter_thresholds_never_turn_a_failure_into_a_pass(
    summary: Summary, limits: Thresholds, factor: float
) -> None:
    tighter = Thresholds(
        max_failure_ratio=limits.max_failure_ratio * factor,
        p95_ms=limits.p95_ms * factor,
        p99_ms=None if limits.p99_ms is None else limits.p99_ms * factor,
    )
    if not judge(summary, limits).passed:
        assert not judge(summary, tighter).passed
