"""After publish: the image's SBOM (from its own python3 and dpkg status), its provenance,
both signed with SIGNING_KEY and attached to the pushed digest as OCI artifacts."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

import dagger

from ci.errors import CiError
from ci.stages.context import StageContext
from ci.stages.image import build_arg_values
from supply.attest import attach, supply_predicates, verify
from supply.errors import Refused, SupplyError
from supply.keys import SigningKey, signing_key
from supply.oci import ArtifactClient
from supply.reference import DIGEST
from supply.sbom import INVENTORY_SCRIPT, Inventory, cyclonedx, parse_inventory
from supply.statement import BuildFacts, provenance
from supply.verify import short


def artifact_client(ctx: StageContext) -> ArtifactClient:
    settings = ctx.settings
    password = settings.registry_password.reveal() if settings.registry_password else None
    return ArtifactClient(settings.registry, settings.repository, settings.registry_username,
                          password)  # fmt: skip


def build_facts(ctx: StageContext, environ: Mapping[str, str], started: str) -> BuildFacts:
    """What the provenance says: source, commit, run, build arguments, base image, builder."""
    settings, plan = ctx.settings, ctx.plan
    workflow = environ.get("GITHUB_WORKFLOW_REF")
    server = environ.get("GITHUB_SERVER_URL", "https://github.com")
    builder = (f"{server}/{workflow}" if workflow
               else f"{settings.source_url}/blob/{plan.sha}/ci/main.py")  # fmt: skip
    base_digest = settings.base_image.partition("@")[2] or None
    return BuildFacts(
        repository=settings.source_url, commit=plan.sha, ref=plan.ref, builder=builder,
        run=settings.run_url or "local", base_image=settings.base_image,
        base_digest=base_digest if base_digest and DIGEST.fullmatch(base_digest) else None,
        build_args=build_arg_values(plan, settings, ctx.source_date_epoch,
                                    ctx.declaration.build.args),
        started=started, finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )  # fmt: skip


async def inventory_of(image: dagger.Container) -> Inventory:
    """What the image holds, as its own python3 sees it (and its dpkg status)."""
    return parse_inventory(await image.with_exec(["python3", "-c", INVENTORY_SCRIPT]).stdout())


def the_key(ctx: StageContext) -> SigningKey | None:
    if ctx.settings.signing_key is None:
        return None
    try:
        return signing_key(ctx.settings.signing_key.reveal())
    except SupplyError as error:
        raise CiError(str(error)) from None


async def attest(ctx: StageContext, digest: str, image: dagger.Container) -> str:
    """Sign and attach the SBOM and provenance of `image`, pushed at `digest`; the stage's
    words for it. Without SIGNING_KEY: nothing is attached, and the words say so."""
    key = the_key(ctx)
    if key is None:
        return "not signed (SIGNING_KEY is not set): a deployer with <ENV>_VERIFY_KEY refuses it"
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        async with artifact_client(ctx) as client:
            try:
                done = await verify(client, digest, (key.public,))
            except Refused:
                pass
            else:  # a re-run: this digest is signed by this key already
                return f"already signed by {short(done.fingerprints[0])} ({done.via})"
            inventory = await inventory_of(image)
            sbom = cyclonedx(inventory, ctx.settings.image, digest)
            facts = build_facts(ctx, os.environ, started)
            attached = await attach(client, digest, key, supply_predicates(sbom, provenance(facts)))
    except SupplyError as error:
        raise CiError(f"signing {ctx.settings.image}@{digest} failed: {error}") from error
    counts = f"{len(inventory.python)} Python, {len(inventory.debs)} OS packages"
    return f"signed by {short(attached.fingerprint)}: provenance and SBOM ({counts}) attached"
