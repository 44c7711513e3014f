"""The only module that awaits Dagger: runs a plan's stages, concurrently where it can."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

import anyio
import dagger

from ci import stages
from ci.errors import CiError, EngineUnavailable, StageFailed
from ci.plan import ReleasePlan, Stage
from ci.registry import RegistryClient, promote
from ci.scans.findings import Status, ToolRun
from ci.scans.gate import evaluate
from ci.scans.parse import conclude
from ci.scans.render import combined_json, markdown_summary, sarif_files
from ci.scans.report import load_policy
from ci.scans.tools import RAW, Outcome, ScanTool, plan_scans
from ci.settings import Settings
from deploy.config import load_target
from deploy.deployer import Deployer
from deploy.errors import DeployError
from deploy.remote import connect

LOCKED_REQUIREMENTS = "app/requirements.txt"
ENGINE_STAGES = frozenset({Stage.BUILD, Stage.TEST, Stage.SCAN, Stage.PUBLISH})
ENGINE_HELP = (
    "No Dagger engine could be reached ({reason}). Install the Dagger CLI "
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
    digest: str | None = None
    published: list[str] = field(default_factory=list)
    failure: CiError | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None and all(result.passed for result in self.results)


class PipelineRunner:
    """Runs the chosen stages of a plan against the Dagger engine of this session."""

    def __init__(
        self,
        plan: ReleasePlan,
        settings: Settings,
        chosen: tuple[Stage, ...],
        root: Path,
        *,
        say: Callable[[str], None],
        interactive: bool = False,
        log_output: TextIO | None = None,
        today: date | None = None,
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.chosen = chosen
        self.root = root
        self.say = say
        self.interactive = interactive
        self.log_output = log_output
        self.today = today or datetime.now(UTC).date()
        self.created = datetime.now(UTC).isoformat(timespec="seconds")
        self.outcome = RunOutcome()
        self.debug: dict[str, dagger.Container] = {}

    async def run(self) -> RunOutcome:
        try:
            if ENGINE_STAGES.intersection(self.chosen):
                async with dagger.connection(dagger.Config(log_output=self.log_output)):
                    await self._run_stages()
            else:
                await self._run_stages()
        except CiError as error:
            self.outcome.failure = error
        except dagger.ExecError as error:  # outside any stage: still a clear verdict
            self.outcome.failure = StageFailed("pipeline", error.command, error.exit_code,
                                               _tail(error.stderr))
        except dagger.DaggerError as error:
            self.outcome.failure = EngineUnavailable(
                ENGINE_HELP.format(reason=type(error).__name__)
            )
        return self.outcome

    async def _run_stages(self) -> None:
        if Stage.BUILD in self.chosen:
            await self._stage(Stage.BUILD, self.build)
        checks = [stage for stage in (Stage.TEST, Stage.SCAN) if stage in self.chosen]
        if checks:
            async with anyio.create_task_group() as group:
                for stage in checks:
                    group.start_soon(self._stage, stage, self.checks[stage])
            self._stop_if_failed()
        for stage, action in ((Stage.PUBLISH, self.publish), (Stage.PROMOTE, self.promote),
                              (Stage.DEPLOY, self.deploy)):
            if stage in self.chosen:
                await self._stage(stage, action)

    @property
    def checks(self) -> dict[Stage, Callable[[], Awaitable[str]]]:
        return {Stage.TEST: self.test, Stage.SCAN: self.scan}

    async def _stage(self, stage: Stage, action: Callable[[], Awaitable[str]]) -> None:
        """Run one stage; its ExecError becomes a StageFailed verdict naming the command."""
        self.say(f"▶ {stage}")
        started = time.perf_counter()
        try:
            detail = await action()
        except dagger.ExecError as error:
            failure = StageFailed(stage.value, list(error.command), error.exit_code,
                                  _tail(error.stderr or error.stdout))
            await self._record_failure(stage, failure, started)
        except dagger.QueryError as error:  # the engine answered, and refused this stage
            await self._record_failure(stage, CiError(f"stage {stage.value!r}: {error}"), started)
        except CiError as error:
            await self._record_failure(stage, error, started)
        else:
            seconds = time.perf_counter() - started
            self.outcome.results.append(StageResult(stage.value, True, detail, seconds))
            self.say(f"✔ {stage} ({seconds:.1f}s) {detail}".rstrip())
            return
        if stage not in (Stage.TEST, Stage.SCAN):
            self._stop_if_failed()

    async def _record_failure(self, stage: Stage, error: CiError, started: float) -> None:
        seconds = time.perf_counter() - started
        self.outcome.results.append(StageResult(stage.value, False, str(error), seconds))
        self.say(f"✘ {stage} ({seconds:.1f}s): {error}")
        if self.interactive and stage.value in self.debug:
            self.say(f"opening a terminal in the {stage} container (exit to continue)")
            await self.debug[stage.value].terminal(cmd=["sh"]).sync()

    def _stop_if_failed(self) -> None:
        failed = [result for result in self.outcome.results if not result.passed]
        if failed:
            raise CiError(f"stage {failed[0].stage} failed; later stages did not run.")

    # -- stages ------------------------------------------------------------------------

    def image(self) -> dagger.Container:
        src = stages.source(self.root)
        return stages.image(src, self.plan, self.settings, self.created)

    async def build(self) -> str:
        await self.image().sync()
        return f"image built for {self.plan.sha[:12]} (version {self.plan.version})"

    async def test(self) -> str:
        env = stages.test_environment(stages.source(self.root), self.settings)
        self.debug[Stage.TEST.value] = env
        ran = stages.run_tests(stages.lint(env))
        code = await ran.exit_code()
        target = self.settings.reports / "tests"
        await ran.directory(stages.TEST_REPORTS).export(str(target))
        if code != 0:
            raise StageFailed("test", list(stages.TEST_COMMAND), code, _tail(await ran.stdout()))
        return f"tests passed; report in {target}/junit.xml"

    async def scan(self) -> str:
        scan_plan = plan_scans(
            safety_key_set=self.settings.safety_api_key is not None,
            locked_requirements=LOCKED_REQUIREMENTS,
        )
        src = stages.source(self.root, with_git=True)
        secret = stages.safety_secret(self.settings)
        runs: list[ToolRun] = []

        async def one(tool: ScanTool) -> None:
            runs.append(await self._scan_tool(tool, src, secret))

        async with anyio.create_task_group() as group:
            for tool in scan_plan.tools:
                group.start_soon(one, tool)
        ordered = sorted(runs, key=lambda r: [t.name for t in scan_plan.tools].index(r.tool))
        return self._gate([*ordered, *scan_plan.skipped])

    async def _scan_tool(
        self, tool: ScanTool, src: dagger.Directory, secret: dagger.Secret | None
    ) -> ToolRun:
        ctr = stages.scanner(tool, src, secret)
        self.debug[Stage.SCAN.value] = ctr
        codes: list[int] = []
        for step in tool.steps:
            ctr = stages.scan_step(ctr, step)
            codes.append(await ctr.exit_code())
            if step.exit_codes.outcome(codes[-1]) is Outcome.ERROR:
                break
        try:
            report: str | None = await ctr.file(tool.report).contents()
        except dagger.QueryError:
            report = None
        await ctr.directory(RAW).export(str(self.settings.reports / "scans" / "raw"))
        return conclude(tool, codes, report, _tail(await ctr.stderr()))

    def _gate(self, runs: list[ToolRun]) -> str:
        policy, allowlist = load_policy(str(self.root / "security" / "allowlist.toml"))
        verdict = evaluate(runs, policy, allowlist, today=self.today)
        summary = markdown_summary(runs, verdict, policy)
        out = self.settings.reports / "scans"
        (self.settings.reports / "sarif").mkdir(parents=True, exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / "findings.json").write_text(combined_json(runs, verdict), encoding="utf-8")
        (out / "summary.md").write_text(summary, encoding="utf-8")
        for name, text in sarif_files(runs, verdict).items():
            (self.settings.reports / "sarif" / name).write_text(text, encoding="utf-8")
        if self.settings.step_summary:
            with self.settings.step_summary.open("a", encoding="utf-8") as handle:
                handle.write(summary)
        else:
            self.say(summary)
        errors = [run.tool for run in runs if run.status is Status.ERROR]
        if not verdict.passed:
            raise CiError(
                f"the security gate failed: {len(verdict.blocking)} blocking finding(s)"
                + (f", tool error(s) in {', '.join(errors)}" if errors else "")
                + f"; see {out / 'summary.md'}."
            )
        return f"security gate passed ({sum(len(r.findings) for r in runs)} findings below it)"

    async def publish(self) -> str:
        ctr = stages.with_registry_auth(self.image(), self.settings)
        for tag in self.plan.tags:
            address = await ctr.publish(f"{self.settings.image}:{tag}")
            self.outcome.published.append(address)
            self.outcome.digest = address.rpartition("@")[2] or self.outcome.digest
        return f"published {', '.join(self.plan.tags)} at {self.outcome.digest}"

    def registry(self) -> RegistryClient:
        password = self.settings.registry_password
        return RegistryClient(
            self.settings.registry, self.settings.repository,
            username=self.settings.registry_username,
            password=password.reveal() if password else None,
        )  # fmt: skip

    async def promote(self) -> str:
        async with self.registry() as client:
            for tag in self.plan.tags:
                done = await promote(client, self.plan.source_tag, tag, revision=self.plan.sha)
                self.outcome.digest = done.digest
                self.outcome.published.append(f"{self.settings.image}:{tag}@{done.digest}")
        return (
            f"promoted {self.plan.source_tag} → {', '.join(self.plan.tags)} at "
            f"{self.outcome.digest} (no rebuild, {done.layer_bytes} layer bytes uploaded)"
        )

    async def deploy(self) -> str:
        if self.plan.environment is None:
            return "nothing to deploy for this ref"
        if self.outcome.digest is None:  # deploy alone: the immutable tag says what was tested
            async with self.registry() as client:
                self.outcome.digest = await client.digest(self.plan.source_tag)
        pinned = f"{self.plan.tags[0]}@{self.outcome.digest}"
        try:
            target = load_target(self.plan.environment.value, os.environ)
            async with connect(target) as runner:
                who = os.environ.get("GITHUB_ACTOR") or "pipeline"
                deployer = Deployer(runner, target, who=f"{who} (pipeline {self.plan.sha[:12]})",
                                    say=self.say)
                await deployer.deploy(pinned)
        except DeployError as error:
            raise CiError(f"deploy to {self.plan.environment} failed: {error}") from error
        return f"{pinned} is healthy on {self.plan.environment}"


def _tail(text: str | None, lines: int = 20) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])

