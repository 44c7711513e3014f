"""Signed releases only: with `<ENV>_VERIFY_KEY` set, a release's digest must carry
attestations (provenance and SBOM) signed by a trusted key before any host pulls it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.config import Target, VerifyPolicy
from deploy.errors import ConfigError, VerificationFailed
from supply.attest import verify
from supply.errors import KeyProblem, Refused, RegistryFailed
from supply.keys import VerifyKey, verify_keys
from supply.oci import ArtifactClient
from supply.reference import parse_image
from supply.verify import Verified, short


def read_keys(policy: VerifyPolicy, variable: str) -> tuple[VerifyKey, ...]:
    """The keys `<ENV>_VERIFY_KEY` holds: PEM text, or comma-separated paths of PEM files."""
    text = policy.keys or ""
    if "-----BEGIN" not in text:
        parts = []
        for name in (part.strip() for part in text.split(",") if part.strip()):
            try:
                parts.append(Path(name).expanduser().read_text(encoding="utf-8"))
            except OSError as error:
                raise ConfigError(variable, (
                    f"{name!r} cannot be read ({error.strerror}): give PEM public key text or "
                    "the path of a file holding it.")) from None  # fmt: skip
        text = "\n".join(parts)
    try:
        return verify_keys(text, what=variable)
    except KeyProblem as error:
        raise ConfigError(variable, str(error).removeprefix(f"{variable} ")) from None


@dataclass
class Verifier:
    """Verifies references for one environment; each digest is fetched and judged once."""

    target: Target
    keys: tuple[VerifyKey, ...]
    say: Callable[[str], None] = lambda _: None
    done: dict[str, tuple[str, str]] = field(default_factory=dict)  # reference → result
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)  # tests

    @property
    def variable(self) -> str:
        return f"{self.target.prefix}_VERIFY_KEY"

    def client(self) -> ArtifactClient:
        policy = self.target.verify
        image = parse_image(policy.image or "")
        return ArtifactClient(image.registry, image.repository, policy.username,
                              policy.password.reveal() if policy.password else None,
                              transport=self.transport)  # fmt: skip

    async def __call__(self, reference: str) -> tuple[str, str]:
        """`TAG` or `TAG@sha256:…` → (`TAG@sha256:…` that verified, key fingerprint(s));
        VerificationFailed (refused: nothing changed) saying what was missing."""
        if reference not in self.done:
            started = time.perf_counter()
            verified = await self.check(reference)
            tag = reference.partition("@")[0]
            self.done[reference] = (f"{tag}@{verified.digest}", ",".join(verified.fingerprints))
            self.say(f"{verified.image}@{verified.digest} verified: signed provenance and SBOM "
                     f"by {', '.join(map(short, verified.fingerprints))} (through the "
                     f"{verified.via}, {time.perf_counter() - started:.2f} s)")  # fmt: skip
        return self.done[reference]

    async def check(self, reference: str) -> Verified:
        tag, _, digest = reference.partition("@")
        image = self.target.verify.image
        try:
            async with self.client() as client:
                if not digest:
                    found = await client.find(tag)
                    if found is None:
                        raise VerificationFailed(
                            f"{image}:{tag} does not exist, so nothing can be verified for it: "
                            "refused before anything changed.")  # fmt: skip
                    digest = found.digest
                return await verify(client, digest, self.keys)
        except Refused as error:
            raise VerificationFailed(
                f"{self.target.environment} takes only images signed by {self.variable}: "
                f"{error} Refused before anything changed.") from error  # fmt: skip
        except RegistryFailed as error:
            raise VerificationFailed(
                f"{self.variable} is set, but the signatures of {image}:{reference} could not "
                f"be read: {error} Refused before anything changed (set "
                f"{self.target.prefix}_REGISTRY_USERNAME/_PASSWORD if the registry needs them)."
            ) from error  # fmt: skip


def verifier_for(target: Target, say: Callable[[str], None] = lambda _: None) -> Verifier | None:
    """The environment's verifier, or None when `<ENV>_VERIFY_KEY` is unset; a key that
    cannot be read, or no `<ENV>_IMAGE`, is refused (ConfigError) before any host is reached.
    (Reading the settings alone never refuses them: production's evidence reads staging's.)"""
    if not target.verify.required:
        return None
    if target.verify.image is None:
        raise ConfigError(f"{target.prefix}_IMAGE", (
            f"is not set, and {target.prefix}_VERIFY_KEY is: name the image repository the "
            "host pulls, REGISTRY/REPOSITORY (e.g. ghcr.io/owner/app), where the signatures "
            "are looked up."))  # fmt: skip
    return Verifier(target, read_keys(target.verify, f"{target.prefix}_VERIFY_KEY"), say)
