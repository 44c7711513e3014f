"""The build stage: the service image as the declaration's [build] says, reproducible per
commit."""

from __future__ import annotations

from ci.stages.context import StageContext


async def run(ctx: StageContext) -> str:
    await ctx.image().sync()
    plan, built = ctx.plan, ctx.declaration.build
    target = f" (target {built.target})" if built.target else ""
    return (f"image built from {built.dockerfile}{target} for {plan.sha[:12]} (version "
            f"{plan.version}, created {ctx.created})")
