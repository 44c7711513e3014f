"""The test stage's Dagger calls for a declaration with a target and a Postgres service, on the
schema-validating fake engine: which containers, bindings and secrets it asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.plan import Stage, plan_release
from ci.runner import PipelineRunner, RunOutcome
from ci.settings import Settings
from ci.stages.context import StageContext
from ci.testing import PROBE
from shipyard.declaration import parse_declaration
from tests.pipeline.fake_calls import Call
from tests.pipeline.fake_engine import FakeEngine

pytestmark = pytest.mark.anyio
SHA = "0123456789abcdef0123456789abcdef01234567"
PASSWORD = "fake-engine-pg-password-81d2"
DECLARATION = """
[build]
dockerfile = "Dockerfile"
args = { EXTRA = "1" }

[test]
target = "test"
workdir = "/app"
env = { DATABASE_URL_HOST = "db" }
commands = [["alembic", "upgrade", "head"], ["pytest", "-q"]]

[[test.services]]
alias = "db"
image = "postgres:16"
port = 5432
env = { POSTGRES_USER = "app" }
secrets = ["POSTGRES_PASSWORD"]
"""


async def run_stage(tmp_path: Path) -> RunOutcome:
    settings = Settings(reports=tmp_path / "reports", base_image="python:3.12-slim-bookworm")
    ctx = StageContext(plan_release("refs/heads/feature/db", SHA), settings, tmp_path,
                       lambda _: None, source_date_epoch=0,
                       declaration=parse_declaration(DECLARATION))
    return await PipelineRunner(ctx, (Stage.TEST,)).run()


def named(calls: list[Call], field: str) -> dict[str, object]:
    return {str(call.args["name"]): call.args.get("value") for call in calls
            if call.matches(field)}


async def test_the_target_stage_runs_the_commands_beside_the_service(
    fake_engine: FakeEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTGRES_PASSWORD", PASSWORD)
    outcome = await run_stage(tmp_path)
    assert outcome.passed, outcome.results
    *_, build = fake_engine.calls("dockerBuild")  # the chain is resent with each query
    assert build.args["target"] == "test"
    assert build.args.get("dockerfile", "Dockerfile") == "Dockerfile"  # default: not sent
    build_args = {arg["name"]: arg["value"] for arg in build.args["buildArgs"]}
    assert build_args["BASE_IMAGE"] == "python:3.12-slim-bookworm"  # the pipeline's BASE_IMAGE
    assert build_args["EXTRA"] == "1"  # the declaration's own, beside the pipeline's
    assert build_args["COMMIT"] == SHA  # the image's own arguments, shared with the build

    *_, service = fake_engine.calls("asService")
    assert service.args == {"useEntrypoint": True}
    chain = list(service.chain)
    assert [str(c.args["address"]) for c in chain if c.matches("from")] == ["postgres:16"]
    assert named(chain, "withEnvVariable") == {"POSTGRES_USER": "app"}
    assert list(named(chain, "withSecretVariable")) == ["POSTGRES_PASSWORD"]
    assert [c.args["port"] for c in chain if c.matches("withExposedPort")] == [5432]

    [*_, last] = fake_engine.leaves("exitCode")
    tested = list(last.chain)
    assert [c.args["alias"] for c in tested if c.matches("withServiceBinding")] == ["db"]
    assert [c.args["path"] for c in tested if c.matches("withWorkdir")] == ["/app"]
    assert named(tested, "withEnvVariable") == {"DATABASE_URL_HOST": "db"}
    assert list(named(tested, "withSecretVariable")) == ["POSTGRES_PASSWORD"]
    assert [list(c.args["args"]) for c in tested if c.matches("withExec")] == [
        ["alembic", "upgrade", "head"],
        ["pytest", "-q", "--junitxml=/tmp/shipyard-reports/tests/junit.xml"],
    ]
    # before them, the probe on the same container and bindings (its exec is not kept)
    first, *_ = fake_engine.leaves("exitCode")
    *probed, probe = first.chain[:-1]
    assert list(probe.args["args"]) == ["python3", "-c", PROBE, "60", "db:5432"]
    assert [c.key for c in probed] == [c.key for c in tested[:len(probed)]]
    assert fake_engine.secrets() == {"test-POSTGRES_PASSWORD": PASSWORD}
    # the password travels only in setSecret: never as an argument of anything else
    others = [call for call in fake_engine.calls() if not call.matches("setSecret")]
    assert not [call for call in others if PASSWORD in repr(dict(call.args))]


async def test_a_service_that_never_answers_fails_the_stage_naming_it(
    fake_engine: FakeEngine, tmp_path: Path
) -> None:
    def probe_times_out(call: Call) -> int:
        execs = call.find_all("withExec")
        return 10 if execs and list(execs[-1].args["args"])[:3] == ["python3", "-c", PROBE] else 0

    fake_engine.respond("Container.exitCode", probe_times_out)
    fake_engine.respond("Container.stderr", lambda _: "db:5432 did not answer in 60s: refused")
    outcome = await run_stage(tmp_path)
    [result] = outcome.results
    assert not result.passed
    assert result.detail == ("stage 'test' failed: the test service 'db' (postgres:16) never "
                             "answered on db:5432\ndb:5432 did not answer in 60s: refused")
    ran = [list(call.args["args"]) for call in fake_engine.calls("withExec")]
    assert ["alembic", "upgrade", "head"] not in ran  # no command ran without its service
