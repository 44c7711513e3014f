"""The deploy stage: deploy.release with the digest-pinned reference that was tested; this
stage only turns its result into the stage's verdict."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ci.errors import CiError
from ci.settings import Settings
from ci.stages.context import StageContext
from deploy.config import load_fleet
from deploy.errors import DeployError
from deploy.fleet.release import run_line
from deploy.release import ReleaseResult, release


async def run(ctx: StageContext) -> str:
    plan = ctx.plan
    if plan.environment is None:
        return "nothing to deploy for this ref"
    if ctx.artifacts.digest is None:  # deploy alone: the immutable tag says what was tested
        async with ctx.registry() as client:
            ctx.artifacts.digest = await client.digest(plan.source_tag)
    pinned = f"{plan.tags[0]}@{ctx.artifacts.digest}"
    who = f"{os.environ.get('GITHUB_ACTOR') or 'pipeline'} (pipeline {plan.sha[:12]})"
    environ = with_image_defaults(os.environ, ctx.settings, plan.environment.value)
    try:
        fleet = load_fleet(plan.environment.value, environ, ctx.declaration)
        result = await release(fleet, pinned, who=who, environ=environ, say=ctx.say)
    except DeployError as error:  # refused before any host changed (evidence, settings)
        raise CiError(f"deploy to {plan.environment} failed: {error}") from error
    return verdict(result)


def with_image_defaults(
    environ: Mapping[str, str], settings: Settings, environment: str
) -> dict[str, str]:
    """The deployer's `<ENV>_IMAGE` and registry login default to the pipeline's own image
    and credentials (what a `<ENV>_VERIFY_KEY` check reads); set ones are kept."""
    prefix, found = environment.upper(), dict(environ)
    defaults = {"IMAGE": settings.image, "REGISTRY_USERNAME": settings.registry_username,
                "REGISTRY_PASSWORD": settings.registry_password.reveal()
                if settings.registry_password else None}  # fmt: skip
    for key, value in defaults.items():
        if value and not found.get(f"{prefix}_{key}", "").strip():
            found[f"{prefix}_{key}"] = value
    return found


def verdict(result: ReleaseResult) -> str:
    """The stage's line for a release that landed; CiError naming each host otherwise."""
    environment, pinned = result.environment, result.reference
    if result.failure is not None:
        raise CiError(f"deploy to {environment} failed: {result.failure}") from result.failure
    if not result.ok:
        lines = [run_line(environment, run) for run in result.hosts]
        raise CiError(f"deploy to {environment} failed on some host; every host that "
                      f"switched to {pinned} was put back where it could be:\n"
                      + "\n".join(lines))  # fmt: skip
    if result.paused:
        return result.paused.message
    if result.several:
        return f"{pinned} is healthy on {environment}'s {len(result.hosts)} hosts"
    return f"{pinned} is healthy on {environment}"
