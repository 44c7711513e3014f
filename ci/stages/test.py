"""The test stage: ruff, mypy and pytest on the base image, constrained by the service's lock."""

from __future__ import annotations

import dagger
from dagger import dag

from ci.scans.tools import REPORTS, SRC, ExitCodes, Step
from ci.stages.context import LOCK_CONSTRAINTS, StageContext, pip_cache
from ci.stages.steps import StepFailure, must_succeed, run_steps, tail

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
LINT_COMMANDS = (("ruff", "check", "."), ("mypy",))
TEST_COMMAND = (
    "pytest", "-m", "not rig and not dagger", "-p", "no:cacheprovider",
    f"--junitxml={TEST_REPORTS}/junit.xml",
)  # fmt: skip
# pytest: 0 passed, 1 some tests failed (its report still tells which); others are errors.
TEST_STEP = Step(TEST_COMMAND, ExitCodes(clean=frozenset({0}), findings=frozenset({1})))


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


async def run(ctx: StageContext) -> str:
    src = ctx.source()
    installed = await run_steps(dependencies(src, ctx.settings.base_image), DEPENDENCY_STEPS)
    if installed.failure:
        raise ctx.step_failed("test", installed.failure)
    project = await run_steps(with_source(installed.container, src), PROJECT_STEPS)
    if project.failure:
        raise ctx.step_failed("test", project.failure)
    linted = await run_steps(project.container, must_succeed(*LINT_COMMANDS))
    if linted.failure:
        raise ctx.step_failed("test", linted.failure)
    tested = await run_steps(linted.container, (TEST_STEP,))
    if tested.failure:  # pytest itself broke: no report to export
        raise ctx.step_failed("test", tested.failure)
    target = ctx.settings.reports / "tests"
    await tested.container.directory(TEST_REPORTS).export(str(target))
    if tested.exit_codes[-1] != 0:
        output = tail(await tested.container.stdout())
        failed = StepFailure(TEST_COMMAND, tested.exit_codes[-1], output, linted.container)
        raise ctx.step_failed("test", failed)
    return f"lint and tests passed; report in {target}/junit.xml"
