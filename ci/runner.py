"""The only module that awaits Dagger: orders a plan's stages, runs them, records verdicts."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from typing import TextIO

import anyio
import dagger

from ci.errors import CiError, EngineUnavailable, StageFailed
from ci.plan import Stage
from ci.settings import DAGGER_VERSION
from ci.stages import RUNS
from ci.stages.context import Artifacts, StageContext
from ci.stages.steps import tail

ENGINE_STAGES = frozenset({Stage.BUILD, Stage.SMOKE, Stage.TEST, Stage.SCAN, Stage.PUBLISH})
# Stages in one group run at the same time; groups run in this order.
GROUPS = (
    (Stage.BUILD,), (Stage.SMOKE, Stage.TEST, Stage.SCAN), (Stage.PUBLISH,), (Stage.PROMOTE,),
    (Stage.DEPLOY,), (Stage.LOADTEST,),
)  # fmt: skip
ENGINE_HELP = (
    "No Dagger engine could be reached ({reason}). Install the Dagger CLI v{version} "
    "(https://docs.dagger.io/install) and run the pipeline through it: "
    "`dagger run python ci/main.py`. `python ci/main.py plan` works without an engine."
)


@dataclass(frozen=True, slots=True)
class StageResult:
    """One stage's verdict."""

    stage: str
    passed: bool
    detail: str
    seconds: float


@dataclass
class RunOutcome:
    """Everything a run decided, for the summary and the Slack message."""

    results: list[StageResult] = field(default_factory=list)
    artifacts: Artifacts = field(default_factory=Artifacts)
    failure: CiError | None = None

    @property
    def digest(self) -> str | None:
        return self.artifacts.digest

    @property
    def passed(self) -> bool:
        return self.failure is None and all(result.passed for result in self.results)


def stage_groups(chosen: tuple[Stage, ...]) -> list[tuple[Stage, ...]]:
    """The chosen stages in run order, those that may overlap grouped together."""
    groups = [tuple(stage for stage in group if stage in chosen) for group in GROUPS]
    return [group for group in groups if group]


class PipelineRunner:
    """Runs the chosen stages against the Dagger engine of this session; stages never raise."""

    def __init__(
        self, ctx: StageContext, chosen: tuple[Stage, ...], *, interactive: bool = False,
        log_output: TextIO | None = None,
    ) -> None:  # fmt: skip
        self.ctx = ctx
        self.chosen = chosen
        self.interactive = interactive
        self.log_output = log_output
        self.outcome = RunOutcome(artifacts=ctx.artifacts)

    async def run(self) -> RunOutcome:
        try:
            if ENGINE_STAGES.intersection(self.chosen):
                async with dagger.connection(dagger.Config(log_output=self.log_output)):
                    await self._run_groups()
            else:
                await self._run_groups()
        except CiError as error:
            self.outcome.failure = error
        except dagger.DaggerError as error:  # the session itself: connecting or closing
            self.outcome.failure = EngineUnavailable(
                ENGINE_HELP.format(reason=type(error).__name__, version=DAGGER_VERSION)
            )
        return self.outcome

    async def _run_groups(self) -> None:
        for group in stage_groups(self.chosen):
            async with anyio.create_task_group() as tasks:
                for stage in group:
                    tasks.start_soon(self._stage, stage)
            failed = [result.stage for result in self.outcome.results if not result.passed]
            if failed:
                raise CiError(f"stage {failed[0]} failed; later stages did not run.")

    async def _stage(self, stage: Stage) -> None:
        """Run one stage; whatever it raises becomes its verdict, never a traceback."""
        self.ctx.say(f"▶ {stage}")
        started = time.perf_counter()
        try:
            detail = await RUNS[stage](self.ctx)
        except Exception as error:
            failure = as_verdict(stage, error)
        else:
            seconds = time.perf_counter() - started
            self.outcome.results.append(StageResult(stage.value, True, detail, seconds))
            self.ctx.say(f"✔ {stage} ({seconds:.1f}s) {detail}".rstrip())
            return
        seconds = time.perf_counter() - started
        self.outcome.results.append(StageResult(stage.value, False, str(failure), seconds))
        self.ctx.say(f"✘ {stage} ({seconds:.1f}s): {failure}")
        await self._debug(stage)

    async def _debug(self, stage: Stage) -> None:
        site = self.ctx.debug.get(stage.value)
        if not self.interactive or site is None:
            return
        where = f"{site.tool}'s container" if site.tool else f"the {stage} container"
        self.ctx.say(f"opening a terminal in {where}, just before the failing command; "
                     f"re-run it with:\n  {shlex.join(site.command)}\n(exit to continue)")
        await site.container.terminal(cmd=["sh"]).sync()


def as_verdict(stage: Stage, error: Exception) -> CiError:
    """Any exception a stage raised, as the stage's verdict naming what failed."""
    if isinstance(error, CiError):
        return error
    if isinstance(error, dagger.ExecError):
        return StageFailed(stage.value, list(error.command), error.exit_code,
                           tail(error.stderr or error.stdout))
    if isinstance(error, dagger.DaggerError):  # the engine answered, and refused this stage
        return CiError(f"stage {stage.value!r}: {tail(str(error), 10)}")
    return CiError(f"stage {stage.value!r} crashed: {type(error).__name__}: {error} "
                   "(a bug in the pipeline: please report it with this message)")
