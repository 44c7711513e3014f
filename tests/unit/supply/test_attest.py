"""attach → verify through the client, against an in-memory registry with and without the
referrers API (the real registry 2.8 path runs on the rig: tests/integration/test_supply.py),
and every way verification refuses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from supply import dsse
from supply.artifacts import artifact_manifest, referrers_tag
from supply.attest import attach, copy_referrers, sbom_document, supply_predicates, verify
from supply.errors import (
    AttestationMissing,
    NoAttestations,
    SubjectMismatch,
    UntrustedSignature,
)
from supply.keys import signing_key, verify_keys
from supply.oci import ArtifactClient
from supply.sbom import DebPackage, Distribution, Inventory, cyclonedx
from supply.statement import CYCLONEDX_BOM, SLSA_PROVENANCE, statement
from tests.unit.supply.fake_registry import FakeRegistry
from tests.unit.supply.keyfiles import ed25519_pair, p256_pair

IMAGE_TYPE = "application/vnd.oci.image.manifest.v1+json"
PRIVATE, PUBLIC = ed25519_pair()
KEY = signing_key(PRIVATE)
TRUSTED = verify_keys(PUBLIC, what="VERIFY_KEY")


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def image_manifest(marker: str) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": IMAGE_TYPE,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "00" * 32, "size": 2},
                       "layers": [], "annotations": {"m": marker}}).encode()


def predicates(digest: str) -> dict[str, Any]:
    sbom = cyclonedx(Inventory((Distribution("fastapi", "0.115.0"),),
                               (DebPackage("libc6", "2.36", "amd64"),)), "reg/o/app", digest)
    return supply_predicates(sbom, {"buildDefinition": {}, "runDetails": {}})


def client(registry: FakeRegistry, repository: str = "o/app") -> ArtifactClient:
    return ArtifactClient("127.0.0.1:5000", repository, transport=registry.transport())


@pytest.fixture(params=[True, False], ids=["referrers-api", "referrers-tag"])
def registry(request: pytest.FixtureRequest) -> FakeRegistry:
    return FakeRegistry(referrers_api=request.param)


def test_attach_then_verify(registry: FakeRegistry) -> None:
    digest = registry.put_image("o/app", "sha-1", image_manifest("one"), IMAGE_TYPE)

    async def scenario() -> None:
        async with client(registry) as c:
            attached = await attach(c, digest, KEY, predicates(digest))
            verified = await verify(c, digest, TRUSTED)
            assert verified.fingerprints == (KEY.public.fingerprint,)
            assert {a.predicate_type for a in verified.attestations} == {SLSA_PROVENANCE,
                                                                          CYCLONEDX_BOM}
            assert verified.via == ("referrers API" if registry.referrers_api
                                    else "referrers tag")
            assert len(attached.artifacts) == 2
            sbom = json.loads(await sbom_document(c, digest, TRUSTED))
            assert sbom["components"][0]["name"] in ("fastapi", "libc6")
            assert json.loads(await sbom_document(c, digest, None)) == sbom  # unverified read

    run(scenario())
    tag_index = ("o/app", referrers_tag(digest)) in registry.tags
    assert tag_index is not registry.referrers_api  # the index only without the API


def test_a_promoted_tag_has_the_same_referrers(registry: FakeRegistry) -> None:
    body = image_manifest("one")
    digest = registry.put_image("o/app", "sha-1", body, IMAGE_TYPE)

    async def scenario() -> None:
        async with client(registry) as c:
            await attach(c, digest, KEY, predicates(digest))
            await c.put_manifest("v1.0.0", body, IMAGE_TYPE)  # promotion: same bytes
            promoted = await c.find("v1.0.0")
            assert promoted is not None
            assert promoted.digest == digest
            assert (await verify(c, promoted.digest, TRUSTED)).digest == digest

    run(scenario())


def test_copying_referrers_across_repositories(registry: FakeRegistry) -> None:
    body = image_manifest("one")
    digest = registry.put_image("o/app", "sha-1", body, IMAGE_TYPE)
    registry.put_image("prod/app", "v1", body, IMAGE_TYPE)

    async def scenario() -> None:
        async with client(registry) as source, client(registry, "prod/app") as target:
            await attach(source, digest, KEY, predicates(digest))
            with pytest.raises(NoAttestations):
                await verify(target, digest, TRUSTED)
            assert await copy_referrers(source, target, digest) == 2
            assert (await verify(target, digest, TRUSTED)).digest == digest

    run(scenario())


Scenario = Callable[[ArtifactClient, str, str], Coroutine[Any, Any, None]]


async def unsigned(c: ArtifactClient, digest: str, other: str) -> None:
    pass


async def other_key(c: ArtifactClient, digest: str, other: str) -> None:
    await attach(c, digest, signing_key(p256_pair()[0]), predicates(digest))


async def reattached(c: ArtifactClient, digest: str, other: str) -> None:
    """A statement signed for `other`, pushed as an artifact whose subject is `digest`."""
    await attach(c, other, KEY, predicates(other))
    subject = await c.find(digest)
    assert subject is not None
    for predicate_type, predicate in predicates(other).items():
        envelope = dsse.sign(statement(c.name, other, predicate_type, predicate), KEY).to_json()
        layer = await c.push_blob(envelope, dsse.ENVELOPE_MEDIA_TYPE)
        await c.push_artifact(artifact_manifest(layer, subject, dsse.ENVELOPE_MEDIA_TYPE,
                                                {"k": predicate_type}), digest)


async def provenance_only(c: ArtifactClient, digest: str, other: str) -> None:
    await attach(c, digest, KEY, {SLSA_PROVENANCE: predicates(digest)[SLSA_PROVENANCE]})


async def signed_other_image(c: ArtifactClient, digest: str, other: str) -> None:
    await attach(c, other, KEY, predicates(other))  # the image asked about is unsigned


@pytest.mark.parametrize(("scenario", "error", "words"), [
    (unsigned, NoAttestations, "no attestations"),
    (signed_other_image, NoAttestations, "unsigned"),
    (other_key, UntrustedSignature, "none by a trusted key"),
    (reattached, SubjectMismatch, "another image"),
    (provenance_only, AttestationMissing, "no signed SBOM"),
])
def test_refusals_say_what_was_missing(
    registry: FakeRegistry, scenario: Scenario, error: type[Exception], words: str
) -> None:
    digest = registry.put_image("o/app", "sha-1", image_manifest("one"), IMAGE_TYPE)
    other = registry.put_image("o/app", "sha-2", image_manifest("two"), IMAGE_TYPE)

    async def go() -> None:
        async with client(registry) as c:
            await scenario(c, digest, other)
            with pytest.raises(error, match=words) as caught:
                await verify(c, digest, TRUSTED)
            assert digest in str(caught.value)

    run(go())


def test_a_lying_index_entry_is_ignored() -> None:
    """The tag index is writable by anyone who can push: an entry whose manifest names
    another subject is not counted."""
    registry = FakeRegistry(referrers_api=False)
    digest = registry.put_image("o/app", "sha-1", image_manifest("one"), IMAGE_TYPE)
    other = registry.put_image("o/app", "sha-2", image_manifest("two"), IMAGE_TYPE)

    async def go() -> None:
        async with client(registry) as c:
            attached = await attach(c, other, KEY, predicates(other))
            for descriptor in attached.artifacts:
                await c.add_to_tag_index(digest, descriptor)
            with pytest.raises(NoAttestations):
                await verify(c, digest, TRUSTED)

    run(go())
