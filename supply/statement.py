"""Pure: in-toto Statement v1 and the SLSA Provenance v1 predicate, built and read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from supply.errors import ArtifactError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
CYCLONEDX_BOM = "https://cyclonedx.org/bom"
BUILD_TYPE = "https://github.com/acout/fastapi-supabase-template/blob/main/docs/supply.md#provenance"
DIGEST_HEX = 64


@dataclass(frozen=True, slots=True)
class Statement:
    """What a statement says: about which digests, which predicate, and the predicate."""

    subjects: tuple[tuple[str, str], ...]  # (name, "sha256:<hex>")
    predicate_type: str
    predicate: Mapping[str, Any] = field(hash=False)

    @property
    def digests(self) -> frozenset[str]:
        return frozenset(digest for _, digest in self.subjects)


def statement(name: str, digest: str, predicate_type: str, predicate: Mapping[str, Any]) -> bytes:
    """The serialized Statement about one image digest (`sha256:<hex>`)."""
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or len(hexdigest) != DIGEST_HEX:
        raise ArtifactError(f"{digest!r} is not a sha256:<64 hex> digest.")
    body = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": hexdigest}}],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def parse_statement(payload: bytes) -> Statement:
    try:
        raw = json.loads(payload)
    except ValueError as error:
        raise ArtifactError("The signed payload is not JSON.") from error
    if not isinstance(raw, dict) or raw.get("_type") != STATEMENT_TYPE:
        raise ArtifactError(f"The signed payload is not an in-toto Statement ({STATEMENT_TYPE}).")
    subjects = []
    for item in raw.get("subject") or []:
        digests = item.get("digest") if isinstance(item, dict) else None
        if isinstance(digests, dict) and isinstance(digests.get("sha256"), str):
            subjects.append((str(item.get("name", "")), "sha256:" + digests["sha256"]))
    predicate = raw.get("predicate")
    return Statement(tuple(subjects), str(raw.get("predicateType", "")),
                     predicate if isinstance(predicate, dict) else {})  # fmt: skip


@dataclass(frozen=True, slots=True)
class BuildFacts:
    """What the pipeline knows about a build, for the provenance predicate."""

    repository: str  # https://github.com/owner/name
    commit: str
    ref: str
    builder: str  # e.g. https://github.com/owner/name/.github/workflows/ci.yml@refs/heads/main
    run: str  # the workflow run's URL, or "local"
    build_args: Mapping[str, str] = field(default_factory=dict, hash=False)
    base_image: str = ""
    base_digest: str | None = None
    started: str = ""
    finished: str = ""


def provenance(facts: BuildFacts) -> dict[str, Any]:
    """The SLSA Provenance v1 predicate (https://slsa.dev/spec/v1.0/provenance)."""
    dependencies: list[dict[str, Any]] = [{
        "uri": f"git+{facts.repository}@{facts.ref}" if facts.ref else f"git+{facts.repository}",
        "digest": {"gitCommit": facts.commit},
    }]  # fmt: skip
    if facts.base_image:
        base: dict[str, Any] = {"uri": f"docker://{facts.base_image}", "name": "base image"}
        if facts.base_digest:
            base["digest"] = {"sha256": facts.base_digest.removeprefix("sha256:")}
        dependencies.append(base)
    metadata = {"invocationId": facts.run}
    metadata |= {key: value for key, value in
                 (("startedOn", facts.started), ("finishedOn", facts.finished)) if value}
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"repository": facts.repository, "ref": facts.ref,
                                   "buildArgs": dict(sorted(facts.build_args.items()))},
            "internalParameters": {},
            "resolvedDependencies": dependencies,
        },
        "runDetails": {"builder": {"id": facts.builder}, "metadata": metadata},
    }  # fmt: skip
