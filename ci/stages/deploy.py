"""The deploy stage: the deployer, over SSH, with the digest-pinned reference that was tested."""

from __future__ import annotations

import os

from ci.errors import CiError
from ci.stages.context import StageContext
from deploy.config import load_target
from deploy.deployer import Deployer
from deploy.errors import DeployError
from deploy.evidence import check_evidence
from deploy.ledger import Outcome
from deploy.remote import connect


async def run(ctx: StageContext) -> str:
    plan = ctx.plan
    if plan.environment is None:
        return "nothing to deploy for this ref"
    if ctx.artifacts.digest is None:  # deploy alone: the immutable tag says what was tested
        async with ctx.registry() as client:
            ctx.artifacts.digest = await client.digest(plan.source_tag)
    pinned = f"{plan.tags[0]}@{ctx.artifacts.digest}"
    try:
        target = load_target(plan.environment.value, os.environ)
        await check_evidence(target, pinned, os.environ)  # production: proven on staging
        async with connect(target) as runner:
            who = os.environ.get("GITHUB_ACTOR") or "pipeline"
            deployer = Deployer(runner, target, who=f"{who} (pipeline {plan.sha[:12]})",
                                say=ctx.say)
            release = await deployer.deploy(pinned)
    except DeployError as error:
        raise CiError(f"deploy to {plan.environment} failed: {error}") from error
    if release.outcome is Outcome.PAUSED:
        return release.message
    return f"{pinned} is healthy on {plan.environment}"
