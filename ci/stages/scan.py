"""The scan stage: each scanner in its own container, every outcome a verdict, then the gate."""

from __future__ import annotations

import anyio
import dagger
from dagger import dag

from ci.errors import CiError
from ci.scans.findings import Status, ToolRun
from ci.scans.gate import Policy, evaluate
from ci.scans.locks import AUDIT_LOCK, AuditInputs, audit_inputs
from ci.scans.parse import conclude
from ci.scans.render import combined_json, headline, markdown_summary, sarif_files
from ci.scans.report import load_policy
from ci.scans.tools import RAW, SRC, ScanTool, plan_scans
from ci.stages.context import StageContext, pip_cache
from ci.stages.steps import StepFailure, must_succeed, run_steps, tail


def installed(tool: ScanTool) -> dagger.Container:
    """The tool's image with a pip cache; its install steps come before any source."""
    ctr = dag.container().from_(tool.image)
    return pip_cache(ctr) if tool.pip_cache else ctr


def with_source(
    ctr: dagger.Container, tool: ScanTool, src: dagger.Directory, secret: dagger.Secret | None,
    generated: dagger.File | None = None,
) -> dagger.Container:
    """The repository (and the pins made from uv/poetry locks, for a tool that reads them)."""
    ctr = ctr.with_directory(SRC, src).with_workdir(tool.workdir)
    if generated is not None and any(AUDIT_LOCK in step.argv for step in tool.steps):
        ctr = ctr.with_file(AUDIT_LOCK, generated)
    if tool.secret_env and secret is not None:
        ctr = ctr.with_secret_variable(tool.secret_env, secret)
    return ctr


def preparation(tool: ScanTool) -> tuple[tuple[str, ...], ...]:
    commands: list[tuple[str, ...]] = [("mkdir", "-p", RAW)]
    if tool.needs_git_history:
        commands.append(("git", "config", "--global", "--add", "safe.directory", SRC))
    return tuple(commands)


def safety_secret(ctx: StageContext) -> dagger.Secret | None:
    key = ctx.settings.safety_api_key
    return None if key is None else dag.set_secret("safety-api-key", key.reveal())


def locked(ctx: StageContext) -> AuditInputs:
    """The declaration's lock files as the scanners read them."""
    return audit_inputs(ctx.declaration.locks,
                        lambda path: (ctx.root / path).read_text(encoding="utf-8"))


def generated_file(ctx: StageContext, inputs: AuditInputs) -> dagger.File | None:
    """The pins made from uv/poetry locks, kept in the reports (what was audited) and handed
    to the engine from there."""
    if inputs.generated is None:
        return None
    path = (ctx.settings.reports / "scans" / "locked-requirements.txt").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(inputs.generated, encoding="utf-8")
    return dag.host().file(str(path))


async def run(ctx: StageContext) -> str:
    inputs = locked(ctx)
    plan = plan_scans(
        python_image=ctx.settings.base_image,
        safety_key_set=ctx.settings.safety_api_key is not None,
        locks=inputs.paths,
        skip=ctx.settings.skip_scans,
        code=ctx.declaration.scan.code,
    )
    src, secret = ctx.source(with_git=True), safety_secret(ctx)
    generated = generated_file(ctx, inputs)
    runs: dict[str, ToolRun] = {}

    async def one(tool: ScanTool) -> None:
        runs[tool.name] = await scan_with(ctx, tool, src, secret, generated)

    async with anyio.create_task_group() as group:
        for tool in plan.tools:
            group.start_soon(one, tool)
    verdict = gate(ctx, [*(runs[tool.name] for tool in plan.tools), *plan.skipped])
    if inputs.unhashed:  # a git or path source in a uv/poetry lock: no hash to audit by
        verdict += f"; not audited (no hash in the lock): {', '.join(inputs.unhashed)}"
    return verdict


async def scan_with(
    ctx: StageContext, tool: ScanTool, src: dagger.Directory, secret: dagger.Secret | None,
    generated: dagger.File | None = None,
) -> ToolRun:
    """One scanner's verdict; an engine error or a failed command is a tool error, never a pass."""
    try:
        return await _scan(ctx, tool, src, secret, generated)
    except dagger.DaggerError as error:
        return ToolRun(tool.name, Status.ERROR, detail=f"the engine refused: {tail(str(error), 5)}")


async def _scan(
    ctx: StageContext, tool: ScanTool, src: dagger.Directory, secret: dagger.Secret | None,
    generated: dagger.File | None,
) -> ToolRun:
    ready = await run_steps(installed(tool), must_succeed(*tool.install))
    if ready.failure is None:
        prepared = with_source(ready.container, tool, src, secret, generated)
        ready = await run_steps(prepared, must_succeed(*preparation(tool)))
    if ready.failure is not None:
        return _failed(ctx, tool, ready.failure)
    ran = await run_steps(ready.container, tool.steps)
    if ran.failure is not None:
        return _failed(ctx, tool, ran.failure)
    try:
        report: str | None = await ran.container.file(tool.report).contents()
    except dagger.QueryError:
        report = None
    await ran.container.directory(RAW).export(str(ctx.settings.reports / "scans" / "raw"))
    return conclude(tool, list(ran.exit_codes), report, tail(await ran.container.stderr()))


def _failed(ctx: StageContext, tool: ScanTool, failure: StepFailure) -> ToolRun:
    ctx.step_failed("scan", failure, tool=tool.name)  # kept for --interactive
    detail = f"`{failure.command}` exited {failure.exit_code}\n{failure.output_tail}".rstrip()
    return ToolRun(tool.name, Status.ERROR, detail=detail)


def gate(ctx: StageContext, runs: list[ToolRun]) -> str:
    """Write every report, then pass or fail the stage on the policy and allowlist."""
    allowlist_file = ctx.root / "security" / "allowlist.toml"
    policy, allowlist = (load_policy(str(allowlist_file)) if allowlist_file.exists()
                         else (Policy(), ()))  # a repository without one: the default policy
    verdict = evaluate(runs, policy, allowlist, today=ctx.today)
    summary = markdown_summary(runs, verdict, policy)
    reports = ctx.settings.reports
    (reports / "sarif").mkdir(parents=True, exist_ok=True)
    (reports / "scans").mkdir(parents=True, exist_ok=True)
    (reports / "scans" / "findings.json").write_text(combined_json(runs, verdict), "utf-8")
    (reports / "scans" / "summary.md").write_text(summary, encoding="utf-8")
    for name, text in sarif_files(runs, verdict).items():
        (reports / "sarif" / name).write_text(text, encoding="utf-8")
    if ctx.settings.step_summary:
        with ctx.settings.step_summary.open("a", encoding="utf-8") as handle:
            handle.write(summary)
    else:
        ctx.say(summary)
    if not verdict.passed:
        errors = "".join(f"\n  {run.tool}: {run.detail}" for run in runs
                         if run.status is Status.ERROR)
        raise CiError(
            f"the security gate {headline(verdict)} ({len(verdict.blocking)} blocking "
            "finding(s))" + (f", tool error(s):{errors}" if errors else "")
            + f"\nsee {reports / 'scans' / 'summary.md'}."
        )
    below = sum(len(r.findings) for r in runs)
    return f"security gate {headline(verdict)} ({below} findings below it)"
