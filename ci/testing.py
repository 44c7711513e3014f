"""Pure: the declaration's `[test]` table → what the test stage runs (container, commands,
services, secrets, readiness probe); no Dagger here, the stage only builds what this says."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from ci.scans.tools import OK_ONLY, ExitCodes, Step
from shipyard.declaration import Build, Testing, dockerfile_in_context

JUNIT_DIR = "/reports/tests"  # the demo's container path (root can write it)
TARGET_JUNIT_DIR = "/tmp/shipyard-reports/tests"  # noqa: S108 - any user of a target stage can
SERVICE_WAIT_SECONDS = 60
PROBE_EXIT_BASE = 10  # the probe exits PROBE_EXIT_BASE + i when service i never answered
# Connects to each host:port in turn until it accepts, or exits naming the first that never did.
PROBE = """\
import socket, sys, time
deadline = time.monotonic() + float(sys.argv[1])
for index, address in enumerate(sys.argv[2:]):
    host, port = address.rsplit(":", 1)
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            print(f"{address} answers")
            break
        except OSError as error:
            if time.monotonic() > deadline:
                print(f"{address} did not answer in {sys.argv[1]}s: {error}", file=sys.stderr)
                sys.exit(10 + index)
            time.sleep(0.25)
"""
# pytest: 0 passed, 1 some tests failed (its report still tells which); others are errors.
PYTEST_EXIT_CODES = ExitCodes(clean=frozenset({0}), findings=frozenset({1}))


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """One service the tests reach as `alias:port`, with its plain env and secret names."""

    alias: str
    image: str
    port: int
    env: tuple[tuple[str, str], ...]
    secret_names: tuple[str, ...]

    @property
    def shown(self) -> str:
        return f"{self.alias!r} ({self.image})"


@dataclass(frozen=True, slots=True)
class TestingPlan:
    """The test container (the pipeline's base image when `target` is None), its commands in
    order (the last one pytest with a junit report when `junit_dir` is set), and its services."""

    target: str | None
    workdir: str
    env: tuple[tuple[str, str], ...]
    steps: tuple[Step, ...]
    junit_dir: str | None
    services: tuple[ServicePlan, ...]
    secret_names: tuple[str, ...]  # every service's, once each: the test container gets them all

    __test__ = False  # not a pytest class

    @property
    def probe(self) -> Step | None:
        """The readiness probe run in the test container before the commands (no services:
        none)."""
        if not self.services:
            return None
        addresses = [f"{service.alias}:{service.port}" for service in self.services]
        argv = ("python3", "-c", PROBE, str(SERVICE_WAIT_SECONDS), *addresses)
        return Step(argv, OK_ONLY)

    def unready(self, probe_exit_code: int) -> ServicePlan | None:
        """The service the probe's exit code names as never answering, if any."""
        index = probe_exit_code - PROBE_EXIT_BASE
        return self.services[index] if 0 <= index < len(self.services) else None


def is_pytest(argv: tuple[str, ...]) -> bool:
    """`pytest ...`, `py.test ...` or `python[3] -m pytest ...`."""
    program = PurePosixPath(argv[0]).name
    if program in ("pytest", "py.test"):
        return True
    return program.startswith("python") and argv[1:3] == ("-m", "pytest")


def command_steps(commands: list[list[str]], junit_dir: str) -> tuple[tuple[Step, ...], bool]:
    """Each command must exit 0, except a last pytest: it writes a junit report and exit 1
    (some tests failed) still leaves the report to export. Returns (steps, junit written)."""
    argvs = [tuple(command) for command in commands]
    steps = [Step(argv, OK_ONLY) for argv in argvs[:-1]]
    last = argvs[-1]
    if is_pytest(last):
        steps.append(Step((*last, f"--junitxml={junit_dir}/junit.xml"), PYTEST_EXIT_CODES))
        return tuple(steps), True
    steps.append(Step(last, OK_ONLY))
    return tuple(steps), False


def plan_testing(testing: Testing) -> TestingPlan:
    """What the `[test]` table says to run, checked for what the model cannot see alone."""
    junit_dir = TARGET_JUNIT_DIR if testing.target else JUNIT_DIR
    steps, junit = command_steps(testing.commands, junit_dir)
    services = tuple(
        ServicePlan(service.alias, service.image, service.port, tuple(service.env.items()),
                    tuple(dict.fromkeys(service.secrets)))
        for service in testing.services
    )  # fmt: skip
    # unique aliases and secrets kept out of test.env: the declaration's model refuses both
    names = tuple(dict.fromkeys(name for service in services for name in service.secret_names))
    return TestingPlan(
        target=testing.target, workdir=testing.workdir, env=tuple(testing.env.items()),
        steps=steps, junit_dir=junit_dir if junit else None, services=services,
        secret_names=names,
    )  # fmt: skip


def secret_values(
    names: tuple[str, ...], environ: Mapping[str, str],
    make: Callable[[], str] = lambda: secrets.token_urlsafe(24),
) -> dict[str, str]:
    """Each secret's value: the pipeline's environment's when set there, else a new random one
    for this run (the service and the tests get the same)."""
    return {name: environ.get(name) or make() for name in names}


def build_location(build: Build) -> tuple[str, str]:
    """(the build context, the Dockerfile relative to it), as the test stage builds its target."""
    return build.context, dockerfile_in_context(build)
