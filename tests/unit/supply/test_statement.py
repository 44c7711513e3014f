"""in-toto Statement v1 and the SLSA Provenance v1 predicate."""

from __future__ import annotations

import json

import pytest

from supply.errors import ArtifactError
from supply.statement import (
    SLSA_PROVENANCE,
    STATEMENT_TYPE,
    BuildFacts,
    parse_statement,
    provenance,
    statement,
)

DIGEST = "sha256:" + "ab" * 32


def test_statement_round_trip() -> None:
    facts = BuildFacts("https://github.com/o/r", "c0ffee" * 6 + "abcd", "refs/heads/main",
                       "https://github.com/o/r/.github/workflows/ci.yml@refs/heads/main",
                       "https://github.com/o/r/actions/runs/7", {"VERSION": "1.2.3"},
                       "python:3.12-slim-bookworm", "sha256:" + "cd" * 32)
    body = statement("ghcr.io/o/r", DIGEST, SLSA_PROVENANCE, provenance(facts))
    raw = json.loads(body)
    assert raw["_type"] == STATEMENT_TYPE
    assert raw["subject"] == [{"name": "ghcr.io/o/r", "digest": {"sha256": "ab" * 32}}]
    definition = raw["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["buildArgs"] == {"VERSION": "1.2.3"}
    assert definition["resolvedDependencies"] == [
        {"uri": "git+https://github.com/o/r@refs/heads/main",
         "digest": {"gitCommit": facts.commit}},
        {"uri": "docker://python:3.12-slim-bookworm", "name": "base image",
         "digest": {"sha256": "cd" * 32}},
    ]
    assert raw["predicate"]["runDetails"]["builder"]["id"].endswith("ci.yml@refs/heads/main")
    parsed = parse_statement(body)
    assert parsed.digests == {DIGEST}
    assert parsed.predicate_type == SLSA_PROVENANCE


@pytest.mark.parametrize("digest", ["sha256:abc", "md5:" + "ab" * 32, "ab" * 32])
def test_only_sha256_digests(digest: str) -> None:
    with pytest.raises(ArtifactError):
        statement("x", digest, SLSA_PROVENANCE, {})


@pytest.mark.parametrize("payload", [b"{", b'{"_type": "https://in-toto.io/Statement/v0.1"}'])
def test_other_payloads_are_not_statements(payload: bytes) -> None:
    with pytest.raises(ArtifactError):
        parse_statement(payload)
