"""`ci/main.py verify IMAGE@DIGEST` and `ci/main.py sbom IMAGE@DIGEST`: read an image's
attestations from its registry (no engine), through the same entry points the deployer uses."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ci.errors import CiError
from ci.settings import Settings
from supply.attest import sbom_document, verify
from supply.errors import Refused, SupplyError
from supply.keys import VerifyKey, verify_keys
from supply.oci import ArtifactClient
from supply.reference import ImageRef, parse_image
from supply.sbom import summarize
from supply.statement import CYCLONEDX_BOM, SLSA_PROVENANCE
from supply.verify import Verified

EXIT_VERIFIED, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class UsageError(CiError):
    """A reference or key the command cannot use (exit 2)."""


def add_commands(commands: Any) -> None:  # argparse's _SubParsersAction is private
    verify_parser = commands.add_parser(
        "verify", help="check IMAGE@DIGEST's signature, provenance and SBOM; no engine",
        description="Check, in the image's registry, that IMAGE@DIGEST (or IMAGE:TAG) has a "
        "signed SLSA provenance and a signed CycloneDX SBOM whose subject is its digest. "
        "Exit 0 verified, 1 not verified (the message says what was missing), 2 bad input.",
    )  # fmt: skip
    verify_parser.add_argument("image", metavar="IMAGE@DIGEST")
    verify_parser.add_argument("--key", action="append", metavar="FILE",
                               help="a PEM public key file (repeatable; default: VERIFY_KEY)")
    verify_parser.add_argument("--json", action="store_true", help="print one JSON object")
    sbom_parser = commands.add_parser(
        "sbom", help="summarize the SBOM attached to IMAGE@DIGEST; no engine",
        description="Print the SBOM attached to IMAGE@DIGEST (or IMAGE:TAG): package counts and "
        "the image's direct Python dependencies with their versions. With --key (or "
        "VERIFY_KEY) its signature is verified first.",
    )  # fmt: skip
    sbom_parser.add_argument("image", metavar="IMAGE@DIGEST")
    sbom_parser.add_argument("--key", action="append", metavar="FILE",
                             help="verify the SBOM's signature with this PEM public key first")
    sbom_parser.add_argument("--json", action="store_true",
                             help="print the CycloneDX JSON document itself")


def keys_from(paths: list[str] | None, environ: Mapping[str, str],
              required: bool) -> tuple[VerifyKey, ...] | None:  # fmt: skip
    """`--key FILE`s, else VERIFY_KEY (PEM text, or comma-separated files); None if neither
    is given and none is required."""
    if paths:
        where = "--key"
    elif environ.get("VERIFY_KEY", "").strip():
        value = environ["VERIFY_KEY"]
        if "-----BEGIN" in value:
            return _keys(value, "VERIFY_KEY")
        paths, where = [p.strip() for p in value.split(",") if p.strip()], "VERIFY_KEY"
    elif required:
        raise UsageError("No key to verify with: pass --key FILE (a PEM public key) or set "
                         "VERIFY_KEY.")  # fmt: skip
    else:
        return None
    texts = []
    for path in paths:
        try:
            texts.append(Path(path).expanduser().read_text(encoding="utf-8"))
        except OSError as error:
            raise UsageError(f"{where}: {path} cannot be read ({error.strerror}).") from None
    return _keys("\n".join(texts), where)


def _keys(text: str, where: str) -> tuple[VerifyKey, ...]:
    try:
        return verify_keys(text, what=where)
    except SupplyError as error:
        raise UsageError(str(error)) from None


def client_for(ref: ImageRef, settings: Settings) -> ArtifactClient:
    """The registry's credentials go to the pipeline's own registry only."""
    ours = ref.registry == settings.registry
    password = settings.registry_password.reveal() if ours and settings.registry_password else None
    return ArtifactClient(ref.registry, ref.repository,
                          settings.registry_username if ours else None, password)  # fmt: skip


async def resolve(client: ArtifactClient, ref: ImageRef) -> str:
    if ref.digest:
        return ref.digest
    found = await client.find(ref.tag or "latest")
    if found is None:
        raise UsageError(f"{ref} does not exist in the registry.")
    return found.digest


def parse_ref(text: str) -> ImageRef:
    try:
        return parse_image(text)
    except SupplyError as error:
        raise UsageError(str(error)) from None


async def command_verify(args: argparse.Namespace, settings: Settings,
                         show: Callable[[str], None]) -> int:  # fmt: skip
    keys = keys_from(args.key, os.environ, required=True)
    assert keys is not None
    ref = parse_ref(args.image)
    try:
        async with client_for(ref, settings) as client:
            verified = await verify(client, await resolve(client, ref), keys)
    except Refused as error:
        show(json.dumps({"verified": False, "image": str(ref), "error": str(error)})
             if args.json else f"NOT VERIFIED: {error}")  # fmt: skip
        return EXIT_REFUSED
    except SupplyError as error:
        raise CiError(str(error)) from error
    show(json.dumps(verified_json(verified), indent=2) if args.json
         else "\n".join(verified_lines(verified)))  # fmt: skip
    return EXIT_VERIFIED


def verified_json(verified: Verified) -> dict[str, Any]:
    return {"verified": True, "image": verified.image, "digest": verified.digest,
            "keys": list(verified.fingerprints), "via": verified.via,
            "attestations": [{"predicateType": a.predicate_type, "manifest": a.manifest,
                              "key": a.fingerprint} for a in verified.attestations]}  # fmt: skip


def verified_lines(verified: Verified) -> list[str]:
    built = verified.of(SLSA_PROVENANCE).statement.predicate
    definition, run = built.get("buildDefinition") or {}, built.get("runDetails") or {}
    source: dict[str, Any] = next(iter(definition.get("resolvedDependencies") or []), {})
    summary = summarize(json.dumps(verified.of(CYCLONEDX_BOM).statement.predicate).encode())
    return [
        f"verified {verified.image}@{verified.digest}",
        f"  signed by   {', '.join(verified.fingerprints)}",
        f"  provenance  {source.get('uri', '?')} commit "
        f"{(source.get('digest') or {}).get('gitCommit', '?')}",
        f"              run {(run.get('metadata') or {}).get('invocationId', '?')}, builder "
        f"{(run.get('builder') or {}).get('id', '?')}",
        f"  sbom        {len(summary.python)} Python, {summary.debs} OS packages",
        f"  found via   the {verified.via}",
    ]


async def command_sbom(args: argparse.Namespace, settings: Settings,
                       show: Callable[[str], None]) -> int:  # fmt: skip
    keys = keys_from(args.key, os.environ, required=False)
    ref = parse_ref(args.image)
    try:
        async with client_for(ref, settings) as client:
            digest = await resolve(client, ref)
            document = await sbom_document(client, digest, keys)
    except Refused as error:
        show(f"NOT VERIFIED: {error}")
        return EXIT_REFUSED
    except SupplyError as error:
        raise CiError(str(error)) from error
    if args.json:
        show(json.dumps(json.loads(document), indent=2))
        return EXIT_VERIFIED
    summary = summarize(document)
    trust = "signature verified" if keys else "signature NOT verified (no --key, no VERIFY_KEY)"
    show("\n".join([
        f"sbom of {ref.name}@{digest} ({trust})",
        f"  {len(summary.python)} Python packages, {summary.debs} OS packages",
        "  direct Python dependencies:",
        *(f"    {name}=={version}" for name, version in summary.direct),
    ]))  # fmt: skip
    return EXIT_VERIFIED
