"""The supply package's exceptions, one tree. Every `Refused` one means an image did not
verify; its message says what was missing and how to get it.

    SupplyError                  anything the supply package refuses or fails at
    ├── KeyProblem               a signing or verification key that cannot be used
    ├── ArtifactError            an attestation or SBOM that cannot be built or read
    ├── RegistryFailed           the registry refused or answered nonsense
    └── Refused                  the image did not verify
        ├── NoAttestations       nothing refers to the digest (unsigned, or referrers missing)
        ├── UntrustedSignature   signed, but by no key given to the verifier
        ├── SubjectMismatch      a signed statement names another digest
        └── AttestationMissing   signed, but the provenance or the SBOM is not there
"""

from __future__ import annotations


class SupplyError(Exception):
    """Base of every error the supply package raises on purpose."""


class KeyProblem(SupplyError):
    """A key that cannot be read, or of a kind that is not supported."""


class ArtifactError(SupplyError):
    """An attestation, envelope or SBOM that cannot be built or parsed."""


class RegistryFailed(SupplyError):
    """The registry refused a request or answered something unreadable."""


class Refused(SupplyError):
    """The image did not verify; `image` is what was asked about."""

    def __init__(self, message: str, *, image: str) -> None:
        super().__init__(message)
        self.image = image


class NoAttestations(Refused):
    """Nothing in the registry refers to the digest."""


class UntrustedSignature(Refused):
    """Attestations are there, but none is signed by a trusted key."""


class SubjectMismatch(Refused):
    """A trusted signature covers a statement about another digest."""


class AttestationMissing(Refused):
    """A required attestation (provenance, SBOM) is not among the trusted ones."""
