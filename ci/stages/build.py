"""The build stage: the service image from the project's Dockerfile, reproducible per commit."""

from __future__ import annotations

from ci.stages.context import StageContext


async def run(ctx: StageContext) -> str:
    await ctx.image().sync()
    plan = ctx.plan
    return f"image built for {plan.sha[:12]} (version {plan.version}, created {ctx.created})"
