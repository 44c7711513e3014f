"""deploy.release's one result type, and the pipeline's verdict rendered from it (pure)."""

from __future__ import annotations

import pytest

from ci.errors import CiError
from ci.stages.deploy import verdict
from deploy.config import Target, load_fleet
from deploy.errors import HealthCheckFailed
from deploy.fleet.release import HostOutcome, HostRun
from deploy.ledger import Kind, Outcome, Release
from deploy.release import ReleaseResult
from tests.unit.deploy.test_fleet_config import BASE

DIGEST = "sha256:" + "a" * 64
REF = f"v2@{DIGEST}"


def targets(count: int) -> tuple[Target, ...]:
    hosts = ",".join(f"web{n}" for n in range(1, count + 1))
    return load_fleet("staging", {**BASE, "STAGING_HOSTS": hosts}).targets


def record(outcome: Outcome, message: str = "") -> Release:
    return Release(id="abc", kind=Kind.DEPLOY, tag=REF, image=f"reg/app:{REF}", digest=DIGEST,
                   outcome=outcome, started_at="t0", finished_at="t1", deployed_by="me",
                   message=message)  # fmt: skip


def deployed(target: Target, outcome: Outcome = Outcome.HEALTHY, message: str = "") -> HostRun:
    return HostRun(target, HostOutcome.DEPLOYED, "v1", REF, True, DIGEST,
                   record(outcome, message))  # fmt: skip


def test_a_release_on_every_host_is_ok() -> None:
    result = ReleaseResult("staging", REF, tuple(deployed(t) for t in targets(2)), several=True)
    assert result.ok
    assert result.error() is None
    assert result.failed == ()
    assert verdict(result) == f"{REF} is healthy on staging's 2 hosts"


def test_one_host_not_deployed_makes_the_release_fail_naming_it() -> None:
    one, two, three = targets(3)
    hosts = (deployed(one), HostRun(two, HostOutcome.FAILED, "v1", "v1", True, error="no"),
             HostRun(three, HostOutcome.UNREACHABLE, error="refused"))  # fmt: skip
    result = ReleaseResult("staging", REF, hosts, several=True)
    assert not result.ok
    assert [run.target.label for run in result.failed] == ["web2:2222", "web3:2222"]
    error = result.error() or ""
    assert "2 of 3" in error
    assert "web2:2222 failed" in error
    assert "web3:2222 unreachable" in error
    with pytest.raises(CiError) as raised:
        verdict(result)
    assert "staging web2:2222: failed: v1 runs, healthy — no" in str(raised.value)
    assert "staging web3:2222: unreachable" in str(raised.value)


def test_one_host_failure_is_the_error_itself() -> None:
    failure = HealthCheckFailed("v2 never answered /health; v1 runs again")
    run = HostRun(targets(1)[0], HostOutcome.FAILED, error=str(failure))
    result = ReleaseResult("staging", REF, (run,), several=False, failure=failure)
    assert not result.ok
    assert result.error() == str(failure)
    with pytest.raises(CiError, match=r"deploy to staging failed: v2 never answered /health"):
        verdict(result)


def test_a_paused_canary_is_no_failure_and_says_its_step() -> None:
    run = deployed(targets(1)[0], Outcome.PAUSED, "canary paused at 25 %")
    result = ReleaseResult("staging", REF, (run,), several=False)
    assert result.ok
    assert result.paused is not None
    assert verdict(result) == "canary paused at 25 %"


def test_one_healthy_host() -> None:
    result = ReleaseResult("staging", REF, (deployed(targets(1)[0]),), several=False)
    assert result.paused is None
    assert verdict(result) == f"{REF} is healthy on staging"


def test_the_deploy_stage_gives_the_deployer_the_pipelines_image_and_login() -> None:
    from ci.settings import Settings
    from ci.stages.deploy import with_image_defaults
    from deploy.config import Secret

    settings = Settings(registry="ghcr.io", repository="o/app", registry_username="bot",
                        registry_password=Secret("tok"))
    environ = with_image_defaults({"STAGING_IMAGE": "ghcr.io/o/other", "X": "1"}, settings,
                                  "staging")
    assert environ == {"STAGING_IMAGE": "ghcr.io/o/other", "X": "1",
                       "STAGING_REGISTRY_USERNAME": "bot", "STAGING_REGISTRY_PASSWORD": "tok"}
    assert with_image_defaults({}, Settings(), "production") == {
        "PRODUCTION_IMAGE": "ghcr.io/acout/fastapi-supabase-template"}
