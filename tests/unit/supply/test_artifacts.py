"""OCI artifact manifests, the referrers tag schema, and image references."""

from __future__ import annotations

import json

import pytest

from supply.artifacts import (
    EMPTY_CONFIG,
    OCI_MANIFEST,
    Descriptor,
    artifact_manifest,
    index_with,
    manifest_layers,
    parse_index,
    referrer_descriptor,
    referrers_tag,
)
from supply.errors import SupplyError
from supply.reference import ImageRef, parse_image

HEX = "ab" * 32


def test_the_empty_config_is_the_oci_specs_descriptor() -> None:
    assert EMPTY_CONFIG.digest == (
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    assert EMPTY_CONFIG.size == 2


def test_artifact_manifest_refers_to_its_subject() -> None:
    subject = Descriptor("application/vnd.oci.image.manifest.v1+json", f"sha256:{HEX}", 1234)
    layer = Descriptor.of(b"{}envelope", "application/vnd.dsse.envelope.v1+json")
    body = artifact_manifest(layer, subject, "application/vnd.dsse.envelope.v1+json",
                             {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v1"})
    raw = json.loads(body)
    assert raw["mediaType"] == OCI_MANIFEST
    assert raw["subject"] == subject.to_json()
    assert raw["artifactType"] == "application/vnd.dsse.envelope.v1+json"
    assert manifest_layers(body) == ((layer,), subject.digest)
    listed = referrer_descriptor(body)
    assert listed.artifact_type == raw["artifactType"]
    assert listed.annotations["in-toto.io/predicate-type"].startswith("https://slsa.dev")


def test_referrers_tag_and_index() -> None:
    assert referrers_tag(f"sha256:{HEX}") == f"sha256-{HEX}"
    one = Descriptor(OCI_MANIFEST, "sha256:" + "01" * 32, 10, "a/b")
    two = Descriptor(OCI_MANIFEST, "sha256:" + "02" * 32, 11, "a/b", {"k": "v"})
    index = index_with(parse_index(index_with((), one)), two)
    assert parse_index(index) == (one, two)
    assert parse_index(index_with(parse_index(index), one)) == (two, one)  # once only


@pytest.mark.parametrize(("text", "expected"), [
    (f"127.0.0.1:5000/o/app@sha256:{HEX}",
     ImageRef("127.0.0.1:5000", "o/app", None, f"sha256:{HEX}")),
    (f"ghcr.io/o/app:v1@sha256:{HEX}", ImageRef("ghcr.io", "o/app", "v1", f"sha256:{HEX}")),
    ("localhost:5000/app:latest", ImageRef("localhost:5000", "app", "latest", None)),
])
def test_image_references(text: str, expected: ImageRef) -> None:
    assert parse_image(text) == expected
    assert str(parse_image(text)) == text


@pytest.mark.parametrize("text", ["app@sha256:" + HEX, "o/app:v1", f"ghcr.io/O/app@sha256:{HEX}",
                                  "ghcr.io/o/app@sha256:abc", "ghcr.io/o/app:v1 extra"])
def test_bad_references_are_refused(text: str) -> None:
    with pytest.raises(SupplyError, match="REGISTRY/REPOSITORY"):
        parse_image(text)
