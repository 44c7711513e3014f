"""The test stage with a declared Postgres service, on the Docker-backed stand-in engine: the
test container (a Dockerfile target) writes and reads a table through the alias `db`, with the
password given to both only as a Dagger secret."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ci.plan import Stage, plan_release
from ci.runner import PipelineRunner, RunOutcome
from ci.settings import Settings
from ci.stages.context import StageContext
from shipyard.declaration import load_declaration
from tests.pipeline.conftest import joined
from tests.pipeline.docker_engine import DockerEngine

pytestmark = [pytest.mark.rig, pytest.mark.anyio]
SHA = "0123456789abcdef0123456789abcdef01234567"
PASSWORD = "pg-secret-from-the-ci-environment-3c9e"
DOCKERFILE = """\
ARG BASE_IMAGE=postgres:16
FROM ${BASE_IMAGE} AS test
WORKDIR /checks
COPY checks/ /checks/

FROM ${BASE_IMAGE} AS runtime
CMD ["postgres"]
"""
# psql from the Postgres image; the password only ever arrives as the secret variable.
QUERY = """\
#!/bin/sh
set -eu
export PGPASSWORD="$POSTGRES_PASSWORD"
echo "password: $POSTGRES_PASSWORD" >&2
exec psql -v ON_ERROR_STOP=1 -h db -U shipyard -d orders -tA "$@"
"""
DECLARATION = """\
[locks]
requirements = []

[scan]
code = ["checks"]

[test]
target = "test"
workdir = "/checks"
env = {{ PGCONNECT_TIMEOUT = "5" }}
commands = {commands}

[[test.services]]
alias = "db"
image = "postgres:16"
port = 5432
env = {{ POSTGRES_USER = "shipyard", POSTGRES_DB = "orders" }}
secrets = {secrets}
"""
WRITE_AND_READ = [[
    "sh", "query.sh",
    "-c", "CREATE TABLE notes (id int PRIMARY KEY, body text)",
    "-c", "INSERT INTO notes VALUES (1, 'written through db')",
    "-c", "SELECT 'read back: ' || body FROM notes WHERE id = 1",
]]  # fmt: skip
MISSING_TABLE = [["sh", "query.sh", "-c", "SELECT * FROM missing_table"]]


@dataclass(frozen=True, slots=True)
class StageRun:
    outcome: RunOutcome
    said: list[str]
    seconds: float

    @property
    def detail(self) -> str:
        [result] = self.outcome.results
        assert result.stage == "test"
        return result.detail


@pytest.fixture
def engine(
    dagger_schema_path: Path, postgres_image: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DockerEngine]:
    """The stand-in, told that postgres:16 is the rig's Postgres image."""
    engine = DockerEngine(dagger_schema_path, images={"postgres:16": postgres_image})
    yield from joined(engine, monkeypatch)


def service_repo(root: Path, commands: list[list[str]],
                 secrets: str = '["POSTGRES_PASSWORD"]') -> Path:
    (root / "checks").mkdir(parents=True)
    (root / "checks" / "query.sh").write_text(QUERY)
    (root / "Dockerfile").write_text(DOCKERFILE)
    text = DECLARATION.format(commands=json.dumps(commands), secrets=secrets)
    (root / "shipyard.toml").write_text(text)  # a JSON list of strings is a TOML array
    return root


async def run_test_stage(root: Path, reports: Path, base: str) -> StageRun:
    """The test stage alone; `base` is the pipeline's BASE_IMAGE (the Dockerfile's FROM)."""
    said: list[str] = []
    ctx = StageContext(plan_release("refs/heads/feature/db", SHA),
                       Settings(reports=reports, base_image=base), root, said.append,
                       source_date_epoch=0, declaration=load_declaration(root))
    started = time.perf_counter()
    outcome = await PipelineRunner(ctx, (Stage.TEST,)).run()
    return StageRun(outcome, said, time.perf_counter() - started)


def assert_never_shown(secret: str, engine: DockerEngine, run: StageRun) -> None:
    """Not on any docker command line, in any exec's output or service log, nor in what the
    pipeline said or decided."""
    assert not [argv for argv in engine.docker.commands if secret in " ".join(argv)]
    assert not [text for text in engine.docker.outputs if secret in text]
    assert secret not in "\n".join(run.said) + run.detail


async def test_the_tests_write_and_read_through_the_service_alias(
    engine: DockerEngine, postgres_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POSTGRES_PASSWORD", PASSWORD)
    root = service_repo(tmp_path / "repo", WRITE_AND_READ)
    run = await run_test_stage(root, tmp_path / "reports", postgres_image)
    assert run.outcome.passed, run.detail
    assert run.detail == "1 test command(s) passed beside db"
    assert any("read back: written through db" in text for text in engine.docker.outputs)
    assert "password: ***\n" in engine.docker.outputs  # it reached the tests, scrubbed
    assert engine.secrets() == {"test-POSTGRES_PASSWORD": PASSWORD}
    assert_never_shown(PASSWORD, engine, run)
    print(f"test stage with Postgres passed in {run.seconds:.1f} s")


async def test_without_one_in_the_environment_a_random_password_is_shared(
    engine: DockerEngine, postgres_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    root = service_repo(tmp_path / "repo", WRITE_AND_READ)
    run = await run_test_stage(root, tmp_path / "reports", postgres_image)
    assert run.outcome.passed, run.detail
    [made] = engine.secrets().values()
    assert len(made) >= 32
    assert_never_shown(made, engine, run)
    print(f"test stage with a random password passed in {run.seconds:.1f} s")


async def test_a_failing_command_fails_the_stage_naming_it(
    engine: DockerEngine, postgres_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POSTGRES_PASSWORD", PASSWORD)
    root = service_repo(tmp_path / "repo", [*WRITE_AND_READ, *MISSING_TABLE])
    run = await run_test_stage(root, tmp_path / "reports", postgres_image)
    assert not run.outcome.passed
    assert run.detail.startswith(
        "stage 'test' failed: `sh query.sh -c SELECT * FROM missing_table` exited 1")
    assert 'relation "missing_table" does not exist' in run.detail
    assert "password: ***" in run.detail  # the command's stderr, scrubbed by the engine
    assert_never_shown(PASSWORD, engine, run)
    print(f"test stage failing at its second command took {run.seconds:.1f} s")


async def test_a_service_that_cannot_start_fails_the_stage_naming_it(
    engine: DockerEngine, postgres_image: str, tmp_path: Path,
) -> None:
    root = service_repo(tmp_path / "repo", WRITE_AND_READ, secrets="[]")
    # no password: postgres exits
    run = await run_test_stage(root, tmp_path / "reports", postgres_image)
    assert not run.outcome.passed
    assert run.detail.startswith(
        "stage 'test' failed: the test service(s) 'db' (postgres:16) did not start:")
    assert "POSTGRES_PASSWORD is not set" in run.detail
    print(f"test stage with a service that exits took {run.seconds:.1f} s")
