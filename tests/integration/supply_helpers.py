"""Signing rig images the way the publish stage does: the image's own inventory → SBOM,
a provenance statement, both signed and attached in the rig's registry (distribution 2.8)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supply import dsse
from supply.artifacts import PREDICATE_ANNOTATION, artifact_manifest
from supply.attest import Attached, attach, subject_of, supply_predicates
from supply.keys import SigningKey
from supply.oci import ArtifactClient
from supply.sbom import (
    INVENTORY_SCRIPT,
    PIP_SEEDS,
    Inventory,
    cyclonedx,
    normalize,
    parse_inventory,
)
from supply.statement import BuildFacts, provenance, statement

REPO_ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def image_inventory(image: str) -> Inventory:
    """What `image` holds, asked of its own python3 (the publish stage's exec, through docker)."""
    done = subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint",
                           "python3", image, "-c", INVENTORY_SCRIPT],
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    return parse_inventory(done.stdout)


def lock_pins(lock: Path = REPO_ROOT / "app" / "requirements.txt") -> set[tuple[str, str]]:
    return {(normalize(name), version) for name, version in PIN.findall(lock.read_text())}


def python_components(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The SBOM's PyPI components, without what `python -m venv` seeds (pip, setuptools)."""
    components = document.get("components")
    assert isinstance(components, list)
    return {(normalize(c["name"]), c["version"]) for c in components
            if str(c.get("purl", "")).startswith("pkg:pypi/")
            and normalize(c["name"]) not in PIP_SEEDS}  # fmt: skip


async def sign_image(
    registry: str, repository: str, image: str, digest: str, key: SigningKey,
    subject_digest: str | None = None,
) -> Attached:
    """Attach `image`'s signed SBOM and provenance to `subject_digest` (default: its digest);
    the statements name `digest`."""
    sbom = cyclonedx(image_inventory(image), f"{registry}/{repository}", digest)
    facts = BuildFacts("https://github.com/acout/fastapi-supabase-template", "0" * 40,
                       "refs/heads/main", "rig", "local", {"VERSION": "rig"})
    predicates = supply_predicates(sbom, provenance(facts))
    async with ArtifactClient(registry, repository) as client:
        if subject_digest is None or subject_digest == digest:
            return await attach(client, digest, key, predicates)
        return await attach_about(client, subject_digest, digest, key, predicates)


async def attach_about(
    client: ArtifactClient, subject: str, about: str, key: SigningKey,
    predicates: Mapping[str, Any],
) -> Attached:
    """Statements about `about`, signed, attached as referrers of `subject` (a replayed
    signature: what a verifier must refuse)."""
    target = await subject_of(client, subject)
    pushed = []
    for predicate_type, predicate in predicates.items():
        body = statement(client.name, about, predicate_type, predicate)
        layer = await client.push_blob(dsse.sign(body, key).to_json(), dsse.ENVELOPE_MEDIA_TYPE)
        manifest = artifact_manifest(layer, target, dsse.ENVELOPE_MEDIA_TYPE,
                                     {PREDICATE_ANNOTATION: predicate_type})
        pushed.append(await client.push_artifact(manifest, subject))
    return Attached(subject, tuple(pushed), key.public.fingerprint, 0)
