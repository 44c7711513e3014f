"""Canary steps, thresholds and the step verdict: numbers in → verdict out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy.canary_policy import (
    CanaryState,
    Decision,
    Step,
    Thresholds,
    judge_step,
    parse_canary_state,
    parse_steps,
)
from deploy.proxy import ColourNumbers


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("10:60,50:60,100", (Step(10, 60), Step(50, 60), Step(100, None))),
        ("100", (Step(100, None),)),
        ("5, 25 ,100", (Step(5, None), Step(25, None), Step(100, None))),
        ("1:1,99:86400,100", (Step(1, 1), Step(99, 86400), Step(100, None))),
    ],
)
def test_steps(text: str, steps: tuple[Step, ...]) -> None:
    assert parse_steps(text) == steps


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("10:60,50:60", "last step must be 100"),
        ("50:60,10:60,100", "rise"),
        ("10:60,10:60,100", "rise"),
        ("0:60,100", "whole percent 1-100"),
        ("101", "whole percent 1-100"),
        ("ten:60,100", "whole percent"),
        ("10:0,100", "whole seconds"),
        ("10:1m,100", "whole seconds"),
        ("10:60,100:60", "takes no duration"),
        ("", "whole percent"),
    ],
)
def test_bad_steps_say_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_steps(text)


LIMITS = Thresholds(max_error_ratio=0.01, max_p95_ratio=1.5, min_requests=100)
FAST = ColourNumbers(1000, 0, 0.010)


@pytest.mark.parametrize(
    ("canary", "stable", "over", "decision", "reason"),
    [
        (ColourNumbers(99, 50, 9.0), FAST, False, Decision.WAIT, ""),
        (ColourNumbers(99, 0, 0.01), FAST, True, Decision.INCONCLUSIVE, "99 requests"),
        (ColourNumbers(100, 1, 0.01), FAST, False, Decision.WAIT, ""),
        (ColourNumbers(100, 1, 0.01), FAST, True, Decision.PASS, ""),
        (ColourNumbers(100, 2, 0.01), FAST, False, Decision.ABORT, "5xx ratio 2.0% (2 of 100)"),
        (ColourNumbers(200, 10, 0.01), FAST, True, Decision.ABORT, "5xx ratio 5.0%"),
        # attempts nginx retried on the stable colour count (the users saw 200s)
        (ColourNumbers(100, 3, 0.01, retried=3), FAST, False, Decision.ABORT,
         "5xx ratio 3.0% (3 of 100; 3 failed attempts: refused, reset or timed out"),
        (ColourNumbers(100, 1, 0.01, retried=1), FAST, True, Decision.PASS, ""),
        # latency: 1.5 times the stable p95, but never for a difference under 50 ms
        (ColourNumbers(100, 0, 0.059), FAST, True, Decision.PASS, ""),
        (ColourNumbers(100, 0, 0.061), FAST, False, Decision.ABORT, "p95 61 ms > 1.5 times"),
        (ColourNumbers(100, 0, 0.300), ColourNumbers(900, 0, 0.200), True, Decision.PASS, ""),
        (ColourNumbers(100, 0, 0.301), ColourNumbers(900, 0, 0.200), True, Decision.ABORT, "p95"),
        (ColourNumbers(100, 0, 5.0), ColourNumbers(), True, Decision.PASS, ""),  # no stable
    ],
)
def test_step_verdicts(
    canary: ColourNumbers, stable: ColourNumbers, over: bool, decision: Decision, reason: str
) -> None:
    verdict = judge_step(canary, stable, LIMITS, step_over=over)
    assert verdict.decision is decision
    assert reason in " ".join(verdict.reasons)


def test_both_thresholds_are_reported() -> None:
    verdict = judge_step(ColourNumbers(100, 5, 1.0), FAST, LIMITS, step_over=False)
    assert verdict.decision is Decision.ABORT
    assert len(verdict.reasons) == 2


numbers = st.builds(
    ColourNumbers,
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.floats(0, 60, allow_nan=False),
)


@given(numbers, numbers, st.booleans(), st.integers(1, 1000))
def test_a_verdict_is_explained_and_never_judges_too_few(
    canary: ColourNumbers, stable: ColourNumbers, over: bool, min_requests: int
) -> None:
    canary = ColourNumbers(canary.requests, min(canary.errors, canary.requests), canary.p95)
    limits = Thresholds(0.01, 1.5, min_requests)
    verdict = judge_step(canary, stable, limits, step_over=over)
    if canary.requests < min_requests:
        assert verdict.decision in (Decision.WAIT, Decision.INCONCLUSIVE)
    assert (verdict.decision in (Decision.ABORT, Decision.INCONCLUSIVE)) == bool(verdict.reasons)
    if verdict.decision is Decision.ABORT:
        assert canary.error_ratio > 0.01 or canary.p95 > stable.p95
    if not over:
        assert verdict.decision in (Decision.WAIT, Decision.ABORT)


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_more_errors_never_turn_an_abort_into_a_pass(requests: int, errors: int) -> None:
    errors = min(errors, requests)
    before = judge_step(ColourNumbers(requests, errors, 0.01), FAST, LIMITS, step_over=True)
    if before.decision is Decision.ABORT and errors < requests:
        after = judge_step(ColourNumbers(requests, errors + 1, 0.01), FAST, LIMITS,
                           step_over=True)  # fmt: skip
        assert after.decision is Decision.ABORT


def test_state_round_trips_and_garbage_is_none() -> None:
    state = CanaryState("abc", "blue", "green", 1, "10:5,50,100", 1234, 17.5)
    assert parse_canary_state(state.to_text()) == state
    assert parse_canary_state("") is None
    assert parse_canary_state('{"release_id": "x"}') is None
