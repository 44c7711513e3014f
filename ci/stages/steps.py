"""Commands run one at a time in a container, judged by exit code, stopping at a failure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagger

from ci.scans.tools import ExitCodes, Outcome, Step

SUCCESS_ONLY = ExitCodes(clean=frozenset({0}))


@dataclass(frozen=True, slots=True)
class StepFailure:
    """The step that failed, how, and the container just before it (to re-run it by hand)."""

    argv: tuple[str, ...]
    exit_code: int
    output_tail: str
    before: dagger.Container

    @property
    def command(self) -> str:
        return " ".join(self.argv)


@dataclass(frozen=True, slots=True)
class StepsRun:
    """The container after the last step that ran, every exit code, and the failure if any."""

    container: dagger.Container
    exit_codes: tuple[int, ...]
    failure: StepFailure | None


def must_succeed(*commands: tuple[str, ...]) -> tuple[Step, ...]:
    return tuple(Step(argv, SUCCESS_ONLY) for argv in commands)


def exec_step(ctr: dagger.Container, step: Step) -> dagger.Container:
    return ctr.with_exec(
        list(step.argv), expect=dagger.ReturnType.ANY, redirect_stdout=step.stdout_path or ""
    )


async def run_steps(ctr: dagger.Container, steps: Sequence[Step]) -> StepsRun:
    """Run `steps` in order; stop at the first whose exit code its step calls an error."""
    codes: list[int] = []
    for step in steps:
        before, ctr = ctr, exec_step(ctr, step)
        codes.append(await ctr.exit_code())
        if step.exit_codes.outcome(codes[-1]) is Outcome.ERROR:
            output = await ctr.stderr() or (await ctr.stdout() if not step.stdout_path else "")
            failure = StepFailure(step.argv, codes[-1], tail(output), before)
            return StepsRun(ctr, tuple(codes), failure)
    return StepsRun(ctr, tuple(codes), None)


def tail(text: str | None, lines: int = 20) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])
