"""The test stage: the declaration's test commands in the test container (the Dockerfile's
`test.target` stage, or the base image with the locked dependencies), beside its services."""

from __future__ import annotations

import os

import dagger
from dagger import dag

from ci.errors import CiError
from ci.scans.tools import REPORTS, SRC, ExitCodes, Step
from ci.stages.context import LOCK_CONSTRAINTS, DebugSite, StageContext, pip_cache
from ci.stages.image import build_args
from ci.stages.steps import StepFailure, must_succeed, run_steps, tail
from ci.testing import ServicePlan, TestingPlan, build_location, plan_testing, secret_values

DEPS = "/deps"
TEST_REPORTS = f"{REPORTS}/tests"
PIP = ("pip", "install", "--disable-pip-version-check")
# Lists pyproject.toml's runtime and dev requirements, so they install without the source.
LIST_REQUIREMENTS = (
    "import tomllib\n"
    "project = tomllib.load(open('pyproject.toml', 'rb'))['project']\n"
    "print('\\n'.join(project['dependencies'] + project['optional-dependencies']['dev']))\n"
)
DEPENDENCY_STEPS = (
    Step(("python", "-c", LIST_REQUIREMENTS), ExitCodes(frozenset({0})),
         stdout_path=f"{DEPS}/requirements-dev.in"),
    *must_succeed((*PIP, "-c", f"{DEPS}/constraints.txt", "-r", f"{DEPS}/requirements-dev.in")),
)  # fmt: skip
PROJECT_STEPS = must_succeed(
    (*PIP, "--no-deps", "-e", "."), ("mkdir", "-p", TEST_REPORTS)
)
# The demo's commands (the declaration's defaults), as ci.testing plans them.
LINT_COMMANDS = (("ruff", "check", "."), ("mypy",))
TEST_COMMAND = (
    "pytest", "-m", "not rig and not dagger", "-p", "no:cacheprovider",
    f"--junitxml={TEST_REPORTS}/junit.xml",
)  # fmt: skip


def dependencies(src: dagger.Directory, base_image: str) -> dagger.Container:
    """The base image with only pyproject.toml and the lock's pins copied in: this layer (and its
    pip install) is rebuilt when those two files change, not on every source edit."""
    return (
        pip_cache(dag.container().from_(base_image))
        .with_workdir(DEPS)
        .with_file(f"{DEPS}/pyproject.toml", src.file("pyproject.toml"))
        .with_file(f"{DEPS}/constraints.txt", src.file(LOCK_CONSTRAINTS))
    )


def with_source(ctr: dagger.Container, src: dagger.Directory) -> dagger.Container:
    return ctr.with_directory(SRC, src).with_workdir(SRC)


def target_stage(ctx: StageContext, target: str) -> dagger.Container:
    """The Dockerfile's `target` stage, built with the same arguments as the image (the
    declaration's `build.args` beside the pipeline's own, which they may not replace)."""
    build = ctx.declaration.build
    context, dockerfile = build_location(build)
    src = ctx.source()
    directory = src if context == "." else src.directory(context)
    args = build_args(ctx.plan, ctx.settings, ctx.source_date_epoch, build.args)
    return directory.docker_build(dockerfile=dockerfile, target=target, build_args=args)


def service(plan: ServicePlan, secrets: dict[str, dagger.Secret]) -> dagger.Service:
    """The declared image running its own entrypoint and command (as `docker run IMAGE` does:
    official images such as postgres initialise themselves there)."""
    ctr = dag.container().from_(plan.image)
    for name, value in plan.env:
        ctr = ctr.with_env_variable(name, value)
    for name in plan.secret_names:
        ctr = ctr.with_secret_variable(name, secrets[name])
    return ctr.with_exposed_port(plan.port).as_service(use_entrypoint=True)


def with_services(
    ctr: dagger.Container, plan: TestingPlan, secrets: dict[str, dagger.Secret]
) -> dagger.Container:
    """The test container's workdir and env, every secret, and each service by its alias."""
    ctr = ctr.with_workdir(plan.workdir)
    for name, value in plan.env:
        ctr = ctr.with_env_variable(name, value)
    for name in plan.secret_names:
        ctr = ctr.with_secret_variable(name, secrets[name])
    for declared in plan.services:
        ctr = ctr.with_service_binding(declared.alias, service(declared, secrets))
    return ctr


def dagger_secrets(plan: TestingPlan) -> dict[str, dagger.Secret]:
    """Each secret from the pipeline's environment, or random for this run; only as secrets."""
    values = secret_values(plan.secret_names, os.environ)
    return {name: dag.set_secret(f"test-{name}", value) for name, value in values.items()}


async def base_test_container(ctx: StageContext) -> dagger.Container:
    """The demo's way: the base image, pyproject's dependencies under the lock, the project."""
    src = ctx.source()
    installed = await run_steps(dependencies(src, ctx.settings.base_image), DEPENDENCY_STEPS)
    if installed.failure:
        raise ctx.step_failed("test", installed.failure)
    project = await run_steps(with_source(installed.container, src), PROJECT_STEPS)
    if project.failure:
        raise ctx.step_failed("test", project.failure)
    return project.container


async def wait_for_services(ctx: StageContext, ctr: dagger.Container, plan: TestingPlan) -> (
    dagger.Container
):
    """Each service answers on its port from the test container, or the stage fails naming it."""
    probe = plan.probe
    if probe is None:
        return ctr
    try:
        probed = await run_steps(ctr, (probe,))
    except dagger.QueryError as error:  # the engine could not start a service
        ctx.failed_at("test", DebugSite(ctr, probe.argv))
        names = ", ".join(service.shown for service in plan.services)
        raise CiError(f"stage 'test' failed: the test service(s) {names} did not start:\n"
                      f"{tail(str(error), 10)}") from None
    if probed.failure is None:
        return ctr
    ctx.failed_at("test", DebugSite(ctr, probe.argv))
    unready = plan.unready(probed.failure.exit_code)
    if unready is None:
        raise CiError(f"stage 'test' failed: the readiness probe (python3 in the test "
                      f"container) exited {probed.failure.exit_code}\n"
                      f"{probed.failure.output_tail}".rstrip())
    raise CiError(f"stage 'test' failed: the test service {unready.shown} never answered on "
                  f"{unready.alias}:{unready.port}\n{probed.failure.output_tail}".rstrip())


async def run(ctx: StageContext) -> str:
    plan = plan_testing(ctx.declaration.test)
    if plan.target is None:
        ready = await base_test_container(ctx)
    else:
        ready = target_stage(ctx, plan.target)
        await ready.sync()  # a build failure is the build's, not a service's
    ready = await wait_for_services(ctx, with_services(ready, plan, dagger_secrets(plan)), plan)
    before = await run_steps(ready, plan.steps[:-1])
    if before.failure:
        raise ctx.step_failed("test", before.failure)
    last = await run_steps(before.container, plan.steps[-1:])
    if last.failure:  # the command itself broke (pytest: no report to export)
        raise ctx.step_failed("test", last.failure)
    where = ""
    if plan.junit_dir is not None:
        target = ctx.settings.reports / "tests"
        await last.container.directory(plan.junit_dir).export(str(target))
        where = f"; report in {target}/junit.xml"
    if last.exit_codes[-1] != 0:  # pytest: some tests failed, the report tells which
        output = tail(await last.container.stdout())
        argv = plan.steps[-1].argv
        failed = StepFailure(argv, last.exit_codes[-1], output, before.container)
        raise ctx.step_failed("test", failed)
    services = f" beside {', '.join(s.alias for s in plan.services)}" if plan.services else ""
    return f"{len(plan.steps)} test command(s) passed{services}{where}"
