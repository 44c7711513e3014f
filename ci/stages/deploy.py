"""The deploy stage: the deployer, over SSH, with the digest-pinned reference that was tested."""

from __future__ import annotations

import os

from ci.errors import CiError
from ci.stages.context import StageContext
from deploy.cli.fleet_views import run_line
from deploy.config import Fleet, load_fleet
from deploy.deployer import Deployer
from deploy.errors import DeployError
from deploy.evidence import check_evidence
from deploy.fleet.release import FleetRelease, HostOutcome
from deploy.host.remote import connect
from deploy.ledger import Outcome


async def run(ctx: StageContext) -> str:
    plan = ctx.plan
    if plan.environment is None:
        return "nothing to deploy for this ref"
    if ctx.artifacts.digest is None:  # deploy alone: the immutable tag says what was tested
        async with ctx.registry() as client:
            ctx.artifacts.digest = await client.digest(plan.source_tag)
    pinned = f"{plan.tags[0]}@{ctx.artifacts.digest}"
    who = f"{os.environ.get('GITHUB_ACTOR') or 'pipeline'} (pipeline {plan.sha[:12]})"
    try:
        fleet = load_fleet(plan.environment.value, os.environ)
        await check_evidence(fleet.targets[0], pinned, os.environ)  # production: proven first
        if fleet.several:
            return await deploy_fleet(ctx, fleet, pinned, who)
        async with connect(fleet.targets[0]) as runner:
            deployer = Deployer(runner, fleet.targets[0], who=who, say=ctx.say)
            release = await deployer.deploy(pinned)
    except DeployError as error:
        raise CiError(f"deploy to {plan.environment} failed: {error}") from error
    if release.outcome is Outcome.PAUSED:
        return release.message
    return f"{pinned} is healthy on {plan.environment}"


async def deploy_fleet(ctx: StageContext, fleet: Fleet, pinned: str, who: str) -> str:
    """Every host of `<ENV>_HOSTS`, all or nothing; the verdict names each host."""
    runs = await FleetRelease(fleet, pinned, who=who, say=ctx.say).run()
    lines = [run_line(fleet.environment, run) for run in runs]
    if any(run.outcome is not HostOutcome.DEPLOYED for run in runs):
        raise CiError(f"deploy to {fleet.environment} failed on some host; every host that "
                      f"switched to {pinned} was put back where it could be:\n"
                      + "\n".join(lines))  # fmt: skip
    return f"{pinned} is healthy on {fleet.environment}'s {len(runs)} hosts"
