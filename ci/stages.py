"""Lazy Dagger builders, Container -> Container: source, image, tests, scanners, publish."""

from __future__ import annotations

from pathlib import Path

import dagger
from dagger import dag

from ci.plan import ReleasePlan
from ci.scans.tools import RAW, REPORTS, SRC, ScanTool, Step
from ci.settings import Settings

SOURCE_EXCLUDES = [
    ".venv", "**/__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
    "reports", "*.egg-info", "build", "dist",
]  # fmt: skip
PIP_CACHE = "/root/.cache/pip"
TEST_REPORTS = f"{REPORTS}/tests"
LINT_COMMANDS = (("ruff", "check", "."), ("mypy",))
TEST_COMMAND = (
    "pytest", "-m", "not rig and not dagger", "-p", "no:cacheprovider",
    f"--junitxml={TEST_REPORTS}/junit.xml",
)  # fmt: skip


def source(root: Path, *, with_git: bool = False) -> dagger.Directory:
    """The repository as the engine sees it: .gitignore'd and cache paths left out."""
    excludes = SOURCE_EXCLUDES if with_git else [*SOURCE_EXCLUDES, ".git"]
    return dag.host().directory(str(root), exclude=excludes, gitignore=True)


def build_args(plan: ReleasePlan, settings: Settings, created: str) -> list[dagger.BuildArg]:
    values = {
        "VERSION": plan.version,
        "COMMIT": plan.sha,
        "CREATED": created,
        "SOURCE": settings.source_url,
    }
    if settings.base_image:
        values["BASE_IMAGE"] = settings.base_image
    return [dagger.BuildArg(name=name, value=value) for name, value in values.items()]


def image(src: dagger.Directory, plan: ReleasePlan, settings: Settings, created: str) -> (
    dagger.Container
):
    """The service image from the project's own Dockerfile."""
    return src.docker_build(dockerfile="Dockerfile", build_args=build_args(plan, settings, created))


def test_environment(src: dagger.Directory, settings: Settings) -> dagger.Container:
    """A Python container with the project and its dev tools installed (pip cache volume)."""
    return (
        dag.container()
        .from_(settings.python_image)
        .with_mounted_cache(PIP_CACHE, dag.cache_volume("shipyard-pip"))
        .with_directory(SRC, src)
        .with_workdir(SRC)
        .with_exec(["pip", "install", "--disable-pip-version-check", "-e", ".[dev]"])
        .with_exec(["mkdir", "-p", TEST_REPORTS])
    )


def lint(ctr: dagger.Container) -> dagger.Container:
    for command in LINT_COMMANDS:
        ctr = ctr.with_exec(list(command))
    return ctr


def run_tests(ctr: dagger.Container) -> dagger.Container:
    """pytest, allowed to fail so its report can still be exported; the runner judges it."""
    return ctr.with_exec(list(TEST_COMMAND), expect=dagger.ReturnType.ANY)


def scanner(
    tool: ScanTool, src: dagger.Directory, secret: dagger.Secret | None
) -> dagger.Container:
    """A scanner's own container: pinned tool installed, repository mounted at /src."""
    ctr = dag.container().from_(tool.image)
    for argv in tool.install:
        ctr = ctr.with_exec(list(argv))
    ctr = ctr.with_directory(SRC, src).with_workdir(tool.workdir).with_exec(["mkdir", "-p", RAW])
    if tool.needs_git_history:
        ctr = ctr.with_exec(["git", "config", "--global", "--add", "safe.directory", SRC])
    if tool.secret_env and secret is not None:
        ctr = ctr.with_secret_variable(tool.secret_env, secret)
    return ctr


def scan_step(ctr: dagger.Container, step: Step) -> dagger.Container:
    return ctr.with_exec(
        list(step.argv), expect=dagger.ReturnType.ANY, redirect_stdout=step.stdout_path or ""
    )


def with_registry_auth(ctr: dagger.Container, settings: Settings) -> dagger.Container:
    """Registry credentials as a Dagger secret, only when a password is configured."""
    if settings.registry_password is None:
        return ctr
    secret = dag.set_secret("registry-password", settings.registry_password.reveal())
    return ctr.with_registry_auth(settings.registry, settings.registry_username or "ci", secret)


def safety_secret(settings: Settings) -> dagger.Secret | None:
    if settings.safety_api_key is None:
        return None
    return dag.set_secret("safety-api-key", settings.safety_api_key.reveal())
