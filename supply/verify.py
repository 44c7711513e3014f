"""Pure: signed attestations found for a digest + trusted keys → what verified, or Refused
naming what was missing."""

from __future__ import annotations

from dataclasses import dataclass

from supply.dsse import IN_TOTO_PAYLOAD, Envelope
from supply.errors import (
    ArtifactError,
    AttestationMissing,
    NoAttestations,
    SubjectMismatch,
    UntrustedSignature,
)
from supply.keys import VerifyKey
from supply.statement import CYCLONEDX_BOM, SLSA_PROVENANCE, Statement, parse_statement

REQUIRED = (SLSA_PROVENANCE, CYCLONEDX_BOM)
WHAT = {SLSA_PROVENANCE: "provenance (SLSA v1)", CYCLONEDX_BOM: "SBOM (CycloneDX)"}


@dataclass(frozen=True, slots=True)
class Found:
    """One attestation the registry holds for the digest: its manifest and its envelope."""

    manifest: str  # the artifact manifest's digest
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class Attestation:
    manifest: str
    predicate_type: str
    fingerprint: str
    statement: Statement


@dataclass(frozen=True, slots=True)
class Verified:
    """The digest verified: by which keys, through which attestations."""

    image: str
    digest: str
    attestations: tuple[Attestation, ...]
    via: str = ""

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return tuple(sorted({a.fingerprint for a in self.attestations}))

    def of(self, predicate_type: str) -> Attestation:
        return next(a for a in self.attestations if a.predicate_type == predicate_type)


def short(fingerprint: str) -> str:
    return fingerprint.removeprefix("sha256:")[:16]


def _trusted(found: tuple[Found, ...], keys: tuple[VerifyKey, ...]) -> list[Attestation]:
    trusted = []
    for item in found:
        key = item.envelope.trusted_by(keys) if item.envelope.payload_type == IN_TOTO_PAYLOAD \
            else None  # fmt: skip
        if key is None:
            continue
        try:
            stated = parse_statement(item.envelope.payload)
        except ArtifactError:
            continue
        trusted.append(Attestation(item.manifest, stated.predicate_type, key.fingerprint, stated))
    return trusted


def judge(
    image: str, digest: str, found: tuple[Found, ...], keys: tuple[VerifyKey, ...],
    *, via: str = "", required: tuple[str, ...] = REQUIRED,
) -> Verified:
    """Every `required` predicate must be in a statement about `digest`, signed by one of
    `keys`; otherwise the Refused subclass that says what was missing."""
    where = f"{image}@{digest}"
    if not found:
        raise NoAttestations(
            f"{where} has no attestations in the registry (looked through the {via or 'registry'}"
            "): it is unsigned, or its referrers were not copied with it. Publish it through "
            "the pipeline with SIGNING_KEY set.", image=where)  # fmt: skip
    trusted = _trusted(found, keys)
    wanted = ", ".join(short(k.fingerprint) for k in keys)
    if not trusted:
        signers = sorted({s.keyid for f in found for s in f.envelope.signatures if s.keyid})
        raise UntrustedSignature(
            f"{where} has {len(found)} attestation(s), signed by "
            f"{', '.join(map(short, signers)) or 'unknown keys'}, none by a trusted key "
            f"({wanted}): sign with the key whose public half is configured, or add its "
            "public key.", image=where)  # fmt: skip
    about = [a for a in trusted if digest in a.statement.digests]
    missing = []
    for predicate_type in required:
        if any(a.predicate_type == predicate_type for a in about):
            continue
        other = next((a for a in trusted if a.predicate_type == predicate_type), None)
        if other is not None:
            raise SubjectMismatch(
                f"{where}: the signed {WHAT.get(predicate_type, predicate_type)} names "
                f"{', '.join(sorted(other.statement.digests))}, not {digest}: it was made for "
                "another image, so it proves nothing about this one.", image=where)  # fmt: skip
        missing.append(WHAT.get(predicate_type, predicate_type))
    if missing:
        raise AttestationMissing(
            f"{where} is signed by {wanted} but has no signed {' and no signed '.join(missing)}: "
            "publish it through the pipeline, which attaches both.", image=where)  # fmt: skip
    return Verified(image, digest, tuple(about), via)
