"""Pure: the measured numbers and k6-style thresholds → the gate's verdict and exit code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Exit codes of `python -m loadtest` and `python ci/main.py loadtest` (docs/pipeline.md,
# "Load-test gate").
EXIT_PASSED = 0
EXIT_ERROR = 1  # the target could not be reached, or no request completed
EXIT_USAGE = 2  # a flag or LOADTEST_* variable has a bad value
EXIT_FAILURE_RATIO = 10
EXIT_P95 = 11
EXIT_P99 = 12


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Upper bounds, strict as in k6: the gate passes while each value stays below its bound."""

    max_failure_ratio: float = 0.01
    p95_ms: float = 500.0
    p99_ms: float | None = None  # off unless set

    def describe(self) -> str:
        bounds = [f"failure ratio < {percent(self.max_failure_ratio)}", f"p95 < {self.p95_ms:g} ms"]
        if self.p99_ms is not None:
            bounds.append(f"p99 < {self.p99_ms:g} ms")
        return ", ".join(bounds)


@dataclass(frozen=True, slots=True)
class Summary:
    """What one load test measured (Locust's aggregated row)."""

    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class Breach:
    """One threshold the run did not stay under."""

    name: str
    exit_code: int
    observed: str
    bound: str

    def __str__(self) -> str:
        return f"{self.name} {self.observed} is not below {self.bound}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Passed, or every breached threshold (and the exit code that reports them)."""

    breaches: tuple[Breach, ...]
    exit_code: int
    reason: str

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_PASSED


def percent(ratio: float) -> str:
    return f"{ratio * 100:.2f} %"


def judge(summary: Summary, thresholds: Thresholds) -> Verdict:
    """Every breached threshold; the exit code is the lowest of theirs (failures before latency).

    A run in which no request completed measured nothing: an error (1), never a pass.
    """
    if summary.requests <= 0:
        return Verdict((), EXIT_ERROR, "no request completed: nothing was measured")
    breaches = tuple(breach for breach in _checks(summary, thresholds) if breach is not None)
    if not breaches:
        return Verdict((), EXIT_PASSED, f"passed: {thresholds.describe()}")
    code = min(breach.exit_code for breach in breaches)
    return Verdict(breaches, code, "failed: " + "; ".join(str(breach) for breach in breaches))


def _checks(summary: Summary, thresholds: Thresholds) -> tuple[Breach | None, ...]:
    ratio = summary.failure_ratio
    return (
        _over("failure ratio", EXIT_FAILURE_RATIO, ratio, thresholds.max_failure_ratio, percent),
        _over("p95", EXIT_P95, summary.p95_ms, thresholds.p95_ms, milliseconds),
        _over("p99", EXIT_P99, summary.p99_ms, thresholds.p99_ms, milliseconds),
    )


def milliseconds(value: float) -> str:
    return f"{value:g} ms"


def _over(
    name: str, code: int, observed: float, bound: float | None, show: Callable[[float], str]
) -> Breach | None:
    if bound is None or observed < bound:
        return None
    return Breach(name, code, show(observed), show(bound))
