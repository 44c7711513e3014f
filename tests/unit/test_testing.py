"""The test stage's plan from the declaration's [test] table: containers, commands, services,
secrets and the readiness probe, as data (ci/testing.py is pure)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ci.scans.tools import Outcome
from ci.stages.test import LINT_COMMANDS, TEST_COMMAND, TEST_REPORTS
from ci.testing import (
    JUNIT_DIR,
    PROBE,
    TARGET_JUNIT_DIR,
    ServicePlan,
    build_location,
    command_steps,
    is_pytest,
    plan_testing,
    secret_values,
)
from shipyard import declaration
from shipyard.declaration import Build, parse_declaration
from shipyard.errors import DeclarationError

POSTGRES = """
[test]
target = "test"
workdir = "/srv/app"
env = { DATABASE_HOST = "db" }
commands = [["alembic", "upgrade", "head"], ["python", "-m", "pytest", "-q"]]

[[test.services]]
alias = "db"
image = "postgres:16"
port = 5432
env = { POSTGRES_USER = "app", POSTGRES_DB = "app" }
secrets = ["POSTGRES_PASSWORD"]

[[test.services]]
alias = "cache"
image = "redis:7"
port = 6379
secrets = ["POSTGRES_PASSWORD", "REDIS_PASSWORD"]
"""


def table(text: str) -> declaration.Testing:
    return parse_declaration(text).test


def test_the_defaults_are_the_demos_commands_with_its_junit_report() -> None:
    plan = plan_testing(declaration.Testing())
    assert plan.target is None
    assert plan.workdir == "/src"
    assert [step.argv for step in plan.steps] == [*LINT_COMMANDS, TEST_COMMAND]
    assert plan.junit_dir == JUNIT_DIR == TEST_REPORTS
    assert [step.exit_codes.outcome(1) for step in plan.steps] == [
        Outcome.ERROR, Outcome.ERROR, Outcome.FINDINGS]
    assert (plan.services, plan.secret_names, plan.probe) == ((), (), None)


def test_a_target_with_services_yields_them_in_order_with_their_secrets() -> None:
    plan = plan_testing(table(POSTGRES))
    assert (plan.target, plan.workdir, plan.env) == ("test", "/srv/app", (("DATABASE_HOST", "db"),))
    assert [step.argv for step in plan.steps] == [
        ("alembic", "upgrade", "head"),
        ("python", "-m", "pytest", "-q", f"--junitxml={TARGET_JUNIT_DIR}/junit.xml"),
    ]
    assert plan.junit_dir == TARGET_JUNIT_DIR
    assert plan.services == (
        ServicePlan("db", "postgres:16", 5432, (("POSTGRES_USER", "app"), ("POSTGRES_DB", "app")),
                    ("POSTGRES_PASSWORD",)),
        ServicePlan("cache", "redis:7", 6379, (), ("POSTGRES_PASSWORD", "REDIS_PASSWORD")),
    )
    # one value per name: the tests and every service that names it get the same
    assert plan.secret_names == ("POSTGRES_PASSWORD", "REDIS_PASSWORD")
    assert plan.probe is not None
    assert plan.probe.argv == ("python3", "-c", PROBE, "60", "db:5432", "cache:6379")


@pytest.mark.parametrize(("code", "alias"), [(0, None), (1, None), (9, None), (10, "db"),
                                             (11, "cache"), (12, None), (127, None)])
def test_the_probes_exit_code_names_the_service_that_never_answered(
    code: int, alias: str | None
) -> None:
    unready = plan_testing(table(POSTGRES)).unready(code)
    assert (unready.alias if unready else None) == alias


@pytest.mark.parametrize(("argv", "expected"), [
    (("pytest",), True), (("/opt/venv/bin/pytest", "-q"), True), (("py.test",), True),
    (("python", "-m", "pytest"), True), (("python3.12", "-m", "pytest", "-x"), True),
    (("python", "-m", "unittest"), False), (("uv", "run", "pytest"), False),
    (("ruff", "check", "."), False), (("pytest-watch",), False),
])  # fmt: skip
def test_is_pytest(argv: tuple[str, ...], expected: bool) -> None:
    assert is_pytest(argv) is expected


def test_a_last_command_other_than_pytest_must_exit_0_and_writes_no_report() -> None:
    steps, junit = command_steps([["pytest"], ["./check.sh", "db"]], "/r")
    assert [step.argv for step in steps] == [("pytest",), ("./check.sh", "db")]
    assert junit is False
    assert steps[0].exit_codes.outcome(1) is Outcome.ERROR  # not last: any failure stops
    assert steps[1].exit_codes.outcome(1) is Outcome.ERROR


def test_two_services_with_one_alias_are_refused_naming_it() -> None:
    text = POSTGRES.replace('alias = "cache"', 'alias = "db"')
    with pytest.raises(DeclarationError, match=r"test: services: the alias 'db' is declared"):
        table(text)  # refused when shipyard.toml is read (exit 2), before any stage


def test_a_secret_also_set_in_plain_env_is_refused() -> None:
    text = POSTGRES.replace('DATABASE_HOST = "db"', 'POSTGRES_PASSWORD = "hunter2"')
    with pytest.raises(DeclarationError, match=r"test: env\.POSTGRES_PASSWORD: .* remove it"):
        table(text)


def test_secret_values_come_from_the_environment_else_are_made_for_the_run() -> None:
    made = iter(["random-1", "random-2"])
    values = secret_values(("POSTGRES_PASSWORD", "REDIS_PASSWORD", "EMPTY"),
                           {"POSTGRES_PASSWORD": "from-ci", "EMPTY": ""}, lambda: next(made))
    assert values == {"POSTGRES_PASSWORD": "from-ci", "REDIS_PASSWORD": "random-1",
                      "EMPTY": "random-2"}


def test_random_secrets_differ_between_runs_and_are_long() -> None:
    first, second = secret_values(("A",), {}), secret_values(("A",), {})
    assert first["A"] != second["A"]
    assert len(first["A"]) >= 32


@pytest.mark.parametrize(("context", "dockerfile", "expected"), [
    (".", "Dockerfile", (".", "Dockerfile")),
    (".", "docker/test.Dockerfile", (".", "docker/test.Dockerfile")),
    ("backend", "backend/Dockerfile", ("backend", "Dockerfile")),
    ("services/api", "services/api/docker/Dockerfile", ("services/api", "docker/Dockerfile")),
])  # fmt: skip
def test_build_location(context: str, dockerfile: str, expected: tuple[str, str]) -> None:
    assert build_location(Build(context=context, dockerfile=dockerfile)) == expected


def test_a_dockerfile_outside_the_context_is_refused_naming_the_key() -> None:
    with pytest.raises(DeclarationError, match=r"build\.dockerfile: 'Dockerfile' is outside"):
        build_location(Build(context="backend", dockerfile="Dockerfile"))


# -- the probe itself, run here against loopback sockets ----------------------------------


@pytest.fixture
def listening() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        yield bound.getsockname()[1]
    finally:
        bound.close()


def probe(*addresses: str, wait: str = "0.5") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, wait, *addresses], capture_output=True,
                          text=True, timeout=30, check=False)


def test_the_probe_passes_when_every_port_answers(listening: int) -> None:
    done = probe(f"127.0.0.1:{listening}", f"localhost:{listening}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"127.0.0.1:{listening} answers",
                                        f"localhost:{listening} answers"]


def test_the_probe_exits_naming_the_first_service_that_never_answered(
    listening: int, closed_port: int
) -> None:
    done = probe(f"127.0.0.1:{listening}", f"127.0.0.1:{closed_port}")
    plan = plan_testing(table(POSTGRES))
    assert done.returncode == 11
    assert plan.unready(done.returncode) == plan.services[1]
    assert f"127.0.0.1:{closed_port} did not answer in 0.5s" in done.stderr
