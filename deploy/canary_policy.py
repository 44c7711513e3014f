"""Pure: canary steps and thresholds, and the verdict on a step from the proxy's numbers."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from enum import StrEnum

from deploy.attempts import describe_retried
from deploy.proxy import ColourNumbers

DEFAULT_STEPS = "10:60,50:60,100"
DEFAULT_MAX_ERROR_RATIO = 0.01  # the canary's 5xx answers may be at most 1 % of its requests
DEFAULT_MAX_P95_RATIO = 1.5  # its p95 at most 1.5 times the stable colour's ...
P95_SLACK = 0.05  # ... and a difference under 50 ms never counts (noise on tiny latencies)
DEFAULT_MIN_REQUESTS = 100  # requests the canary must answer in a step before it is judged


@dataclass(frozen=True, slots=True)
class Step:
    """Send `weight` percent to the canary; for `seconds`, or until `promote` when None."""

    weight: int
    seconds: int | None

    def describe(self) -> str:
        if self.weight == 100:
            return "100 % (all traffic; the old colour is drained)"
        how_long = f"for {self.seconds} s" if self.seconds is not None else "until promote"
        return f"{self.weight} % {how_long}"


def parse_steps(text: str) -> tuple[Step, ...]:
    """`10:60,50,100` → steps; ValueError with the fix on anything else."""
    steps: list[Step] = []
    for part in (p.strip() for p in text.split(",")):
        weight, colon, seconds = part.partition(":")
        if not weight.isdigit() or not 1 <= int(weight) <= 100:
            raise ValueError(f"step {part!r}: the weight must be a whole percent 1-100")
        if colon and (not seconds.isdigit() or not 1 <= int(seconds) <= 86400):
            raise ValueError(f"step {part!r}: the duration must be whole seconds 1-86400")
        steps.append(Step(int(weight), int(seconds) if colon else None))
    weights = [step.weight for step in steps]
    if weights != sorted(set(weights)):
        raise ValueError("weights must rise from step to step")
    if weights[-1] != 100:
        raise ValueError("the last step must be 100 (all traffic on the canary)")
    if steps[-1].seconds is not None:
        raise ValueError("the last step (100) takes no duration: write it as `100`")
    return tuple(steps)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a canary step fails."""

    max_error_ratio: float = DEFAULT_MAX_ERROR_RATIO
    max_p95_ratio: float = DEFAULT_MAX_P95_RATIO
    min_requests: int = DEFAULT_MIN_REQUESTS


class Decision(StrEnum):
    WAIT = "wait"  # the step goes on
    PASS = "pass"  # noqa: S105 # the step is over and the canary held: next step
    ABORT = "abort"  # a threshold is breached: weight back to 0, canary removed
    INCONCLUSIVE = "inconclusive"  # the step is over with too few requests: pause for a person


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reasons: tuple[str, ...] = ()


def judge_step(
    canary: ColourNumbers, stable: ColourNumbers, limits: Thresholds, *, step_over: bool
) -> Verdict:
    """The step's verdict from the proxy's numbers (a breach aborts as soon as it is seen).
    Every attempt at the canary counts: one nginx retried on the stable colour is a failure."""
    if canary.requests < limits.min_requests:
        if not step_over:
            return Verdict(Decision.WAIT)
        return Verdict(Decision.INCONCLUSIVE, (
            f"the canary was sent {canary.requests} requests in the step, fewer than the "
            f"{limits.min_requests} needed to judge it",))  # fmt: skip
    reasons = []
    if canary.error_ratio > limits.max_error_ratio:
        retried = f"; {describe_retried(canary.retried)}" if canary.retried else ""
        reasons.append(f"5xx ratio {canary.error_ratio:.1%} ({canary.errors} of "
                       f"{canary.requests}{retried}) > {limits.max_error_ratio:.1%}")  # fmt: skip
    allowed = max(stable.p95 * limits.max_p95_ratio, stable.p95 + P95_SLACK)
    if stable.requests and canary.p95 > allowed:
        reasons.append(f"p95 {canary.p95 * 1000:.0f} ms > {limits.max_p95_ratio:g} times the "
                       f"stable colour's {stable.p95 * 1000:.0f} ms")  # fmt: skip
    if reasons:
        return Verdict(Decision.ABORT, tuple(reasons))
    return Verdict(Decision.PASS if step_over else Decision.WAIT)


@dataclass(frozen=True, slots=True)
class CanaryState:
    """Where a canary is, kept on the host (.deploy/canary.json) so that `promote`, `abort`
    and `status` from another process find it."""

    release_id: str
    stable: str
    canary: str
    step: int  # index into the steps
    steps: str  # the steps as configured when it started
    log_offset: int  # the access log's size when the step began
    started_at: float

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"


def parse_canary_state(text: str | None) -> CanaryState | None:
    try:
        data = json.loads(text or "")
        return CanaryState(**{f.name: data[f.name] for f in fields(CanaryState)})
    except (ValueError, KeyError, TypeError):
        return None
