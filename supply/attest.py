"""Attach signed attestations to an image digest, read them back and verify them: the entry
points the pipeline, `ci/main.py verify|sbom` and the deployer share (registry I/O here,
every judgement in verify.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from supply import dsse
from supply.artifacts import (
    CREATED_ANNOTATION,
    PREDICATE_ANNOTATION,
    Descriptor,
    artifact_manifest,
    manifest_layers,
)
from supply.errors import ArtifactError, NoAttestations, RegistryFailed
from supply.keys import SigningKey, VerifyKey
from supply.oci import ArtifactClient
from supply.statement import CYCLONEDX_BOM, SLSA_PROVENANCE, parse_statement, statement
from supply.verify import Found, Verified, judge


@dataclass(frozen=True, slots=True)
class Attached:
    digest: str
    artifacts: tuple[Descriptor, ...]
    fingerprint: str
    layer_bytes: int


async def subject_of(client: ArtifactClient, digest: str) -> Descriptor:
    found = await client.find(digest)
    if found is None:
        raise RegistryFailed(f"{client.name}@{digest} does not exist: nothing to attach to.")
    return found


async def attach(
    client: ArtifactClient, digest: str, key: SigningKey, predicates: Mapping[str, Any],
    *, now: str | None = None,
) -> Attached:
    """Sign one in-toto statement per predicate (type → predicate) about `digest` and push
    each as an OCI artifact whose subject is the image."""
    subject = await subject_of(client, digest)
    created = now or datetime.now(UTC).isoformat(timespec="seconds")
    before = client.layer_bytes
    pushed = []
    for predicate_type, predicate in predicates.items():
        body = statement(client.name, digest, predicate_type, predicate)
        envelope = dsse.sign(body, key).to_json()
        layer = await client.push_blob(envelope, dsse.ENVELOPE_MEDIA_TYPE)
        layer = Descriptor(layer.media_type, layer.digest, layer.size, None,
                           {PREDICATE_ANNOTATION: predicate_type})  # fmt: skip
        manifest = artifact_manifest(layer, subject, dsse.ENVELOPE_MEDIA_TYPE,
                                     {PREDICATE_ANNOTATION: predicate_type,
                                      CREATED_ANNOTATION: created})  # fmt: skip
        pushed.append(await client.push_artifact(manifest, digest))
    return Attached(digest, tuple(pushed), key.public.fingerprint, client.layer_bytes - before)


def supply_predicates(sbom: bytes, provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The two attestations every published image gets: provenance and the SBOM."""
    return {SLSA_PROVENANCE: dict(provenance), CYCLONEDX_BOM: json.loads(sbom)}


async def found_for(client: ArtifactClient, digest: str) -> tuple[tuple[Found, ...], str]:
    """Every DSSE envelope in an artifact that refers to `digest`, and how they were found."""
    descriptors, via = await client.referrers(digest)
    found = []
    for descriptor in descriptors:
        if descriptor.artifact_type not in (None, dsse.ENVELOPE_MEDIA_TYPE):
            continue
        fetched = await client.manifest(descriptor.digest)
        if fetched is None:
            continue  # listed, but gone: as if it were not there
        layers, subject = manifest_layers(fetched.body)
        if subject != digest:
            continue  # an index entry that lies about its subject
        for layer in layers:
            if layer.media_type != dsse.ENVELOPE_MEDIA_TYPE:
                continue
            try:
                found.append(Found(descriptor.digest, dsse.parse(await client.blob(layer.digest))))
            except ArtifactError:
                continue
    return tuple(found), via


async def verify(
    client: ArtifactClient, digest: str, keys: tuple[VerifyKey, ...],
    *, required: tuple[str, ...] = (SLSA_PROVENANCE, CYCLONEDX_BOM),
) -> Verified:
    """What verified for `digest`, or a Refused error saying what was missing."""
    found, via = await found_for(client, digest)
    return judge(client.name, digest, found, keys, via=via, required=required)


async def sbom_document(
    client: ArtifactClient, digest: str, keys: tuple[VerifyKey, ...] | None
) -> bytes:
    """The SBOM attached to `digest`: verified against `keys` when given; unverified (the
    first CycloneDX statement about the digest) when None."""
    if keys is not None:
        verified = await verify(client, digest, keys, required=(CYCLONEDX_BOM,))
        return json.dumps(verified.of(CYCLONEDX_BOM).statement.predicate).encode()
    found, via = await found_for(client, digest)
    for item in found:
        try:
            stated = parse_statement(item.envelope.payload)
        except ArtifactError:
            continue
        if stated.predicate_type == CYCLONEDX_BOM and digest in stated.digests:
            return json.dumps(stated.predicate).encode()
    raise NoAttestations(f"{client.name}@{digest} has no SBOM attached (looked through the "
                         f"{via}).", image=f"{client.name}@{digest}")  # fmt: skip


async def copy_referrers(source: ArtifactClient, target: ArtifactClient, digest: str) -> int:
    """Copy every artifact that refers to `digest` from one repository to another (promotion
    across repositories); the image itself must be in `target` already. How many copied."""
    descriptors, _ = await source.referrers(digest)
    for descriptor in descriptors:
        fetched = await source.manifest(descriptor.digest)
        if fetched is None:
            continue
        layers, _ = manifest_layers(fetched.body)
        for layer in layers:
            await target.push_blob(await source.blob(layer.digest), layer.media_type)
        await target.push_artifact(fetched.body, digest)
    return len(descriptors)
