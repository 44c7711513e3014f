"""The promote stage: copy the tested manifest to the release tag (same digest, no rebuild)."""

from __future__ import annotations

from ci.registry import promote
from ci.stages.context import StageContext


async def run(ctx: StageContext) -> str:
    plan, done = ctx.plan, None
    async with ctx.registry() as client:
        for tag in plan.tags:
            done = await promote(client, plan.source_tag, tag, revision=plan.sha)
            ctx.artifacts.digest = done.digest
            ctx.artifacts.published.append(f"{ctx.settings.image}:{tag}@{done.digest}")
    layer_bytes = done.layer_bytes if done else 0
    return (
        f"promoted {plan.source_tag} → {', '.join(plan.tags)} at {ctx.artifacts.digest} "
        f"(no rebuild, {layer_bytes} layer bytes uploaded)"
    )
