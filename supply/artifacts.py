"""Pure: OCI 1.1 artifact manifests with a `subject`, and the referrers tag schema's index."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from supply.errors import ArtifactError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_JSON = b"{}"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"
CREATED_ANNOTATION = "org.opencontainers.image.created"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def of(cls, data: bytes, media_type: str) -> Descriptor:
        return cls(media_type, sha256(data), len(data))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest,
                               "size": self.size}  # fmt: skip
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        return out

    @classmethod
    def from_json(cls, raw: Any) -> Descriptor:
        try:
            annotations = {str(k): str(v) for k, v in (raw.get("annotations") or {}).items()}
            return cls(str(raw["mediaType"]), str(raw["digest"]), int(raw["size"]),
                       raw.get("artifactType"), annotations)  # fmt: skip
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"Not an OCI descriptor: {str(raw)[:120]}") from error


EMPTY_CONFIG = Descriptor.of(EMPTY_JSON, EMPTY_MEDIA_TYPE)


def _dump(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def artifact_manifest(
    layer: Descriptor, subject: Descriptor, artifact_type: str, annotations: Mapping[str, str]
) -> bytes:
    """An OCI image manifest (1.1) for one blob that refers to `subject`."""
    return _dump({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": EMPTY_CONFIG.to_json(), "layers": [layer.to_json()],
        "subject": Descriptor(subject.media_type, subject.digest, subject.size).to_json(),
        "annotations": dict(sorted(annotations.items())),
    })  # fmt: skip


def referrer_descriptor(manifest: bytes) -> Descriptor:
    """How an index lists the artifact `manifest`: its artifactType and annotations too."""
    raw = json.loads(manifest)
    return Descriptor(OCI_MANIFEST, sha256(manifest), len(manifest), raw.get("artifactType"),
                      {str(k): str(v) for k, v in (raw.get("annotations") or {}).items()})


def manifest_layers(manifest: bytes) -> tuple[tuple[Descriptor, ...], str | None]:
    """An artifact manifest's layers and the digest of its subject."""
    try:
        raw = json.loads(manifest)
        layers = tuple(Descriptor.from_json(layer) for layer in raw.get("layers") or [])
    except ValueError as error:
        raise ArtifactError("An artifact manifest is not JSON.") from error
    subject = raw.get("subject")
    return layers, str(subject["digest"]) if isinstance(subject, dict) else None


def referrers_tag(digest: str) -> str:
    """The referrers tag schema: `sha256:abc…` → `sha256-abc…` (at most 128 characters)."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}"[:128]


def parse_index(body: bytes) -> tuple[Descriptor, ...]:
    try:
        raw = json.loads(body)
    except ValueError as error:
        raise ArtifactError("A referrers index is not JSON.") from error
    return tuple(Descriptor.from_json(item) for item in raw.get("manifests") or [])


def index_with(existing: tuple[Descriptor, ...], added: Descriptor) -> bytes:
    """The referrers index holding `existing` and `added` (once), in that order."""
    kept = [d for d in existing if d.digest != added.digest]
    return _dump({"schemaVersion": 2, "mediaType": OCI_INDEX,
                  "manifests": [d.to_json() for d in (*kept, added)]})  # fmt: skip
