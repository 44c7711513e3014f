"""The publish stage: push the tested image; an immutable sha- tag is never overwritten."""

from __future__ import annotations

import dagger
from dagger import dag

from ci.registry import RegistryClient, check_revision, promote
from ci.stages.attest import attest
from ci.stages.context import StageContext


def with_registry_auth(ctx: StageContext, ctr: dagger.Container) -> dagger.Container:
    """Registry credentials as a Dagger secret, only when a password is configured."""
    settings = ctx.settings
    if settings.registry_password is None:
        return ctr
    secret = dag.set_secret("registry-password", settings.registry_password.reveal())
    return ctr.with_registry_auth(settings.registry, settings.registry_username or "ci", secret)


async def run(ctx: StageContext) -> str:
    plan = ctx.plan
    moving = [tag for tag in plan.tags if tag != plan.source_tag]
    async with ctx.registry() as client:
        existing = await client.find_digest(plan.source_tag)
        if existing is not None:
            return await _reuse(ctx, client, existing, moving)
    ctr = with_registry_auth(ctx, ctx.image())
    for tag in (plan.source_tag, *moving):  # the immutable tag first: a re-run reuses it
        address = await ctr.publish(f"{ctx.settings.image}:{tag}")
        ctx.artifacts.published.append(address)
        ctx.artifacts.digest = address.rpartition("@")[2] or ctx.artifacts.digest
    signed = await attest(ctx, ctx.artifacts.digest or "", ctx.image())
    return f"published {', '.join((plan.source_tag, *moving))} at {ctx.artifacts.digest}; {signed}"


async def _reuse(
    ctx: StageContext, client: RegistryClient, digest: str, moving: list[str]
) -> str:
    """The commit was published before: check it is this commit's, then point tags at it."""
    check_revision(await client.labels(await client.manifest(digest)), ctx.plan.sha,
                   f"{ctx.settings.image}:{ctx.plan.source_tag}")
    ctx.say(f"{ctx.plan.source_tag} is already published for {ctx.plan.sha[:12]} at {digest}: "
            "reusing it (an immutable tag is never overwritten; this run's build is not pushed)")
    ctx.artifacts.digest = digest
    ctx.artifacts.published.append(f"{ctx.settings.image}:{ctx.plan.source_tag}@{digest}")
    for tag in moving:
        done = await promote(client, ctx.plan.source_tag, tag, revision=ctx.plan.sha)
        ctx.artifacts.published.append(f"{ctx.settings.image}:{tag}@{done.digest}")
    published = with_registry_auth(ctx, dag.container()).from_(f"{ctx.settings.image}@{digest}")
    signed = await attest(ctx, digest, published)  # lazy: pulled only when not signed yet
    return (f"reused {ctx.plan.source_tag} at {digest}; pointed {', '.join(moving)} at it; "
            f"{signed}")  # fmt: skip
