"""Pure: an image reference `REGISTRY/REPOSITORY[:TAG][@sha256:HEX]` split into its parts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from supply.errors import SupplyError

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
REPOSITORY = re.compile(r"[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
REGISTRY = re.compile(r"(?:localhost|\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*[.:][A-Za-z0-9.-]*)"
                      r"(?::[0-9]+)?")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ImageRef:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.name}{tag}{'@' + self.digest if self.digest else ''}"


def parse_image(text: str) -> ImageRef:
    """`127.0.0.1:5000/owner/app:v1@sha256:…` → ImageRef; the registry must be named (a
    host with a dot or a port, or localhost), so no reference silently means Docker Hub."""
    rest, _, digest = text.strip().partition("@")
    registry, _, path = rest.partition("/")
    repository, tag = path, None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = path.rpartition(":")
    ok = (REGISTRY.fullmatch(registry) and REPOSITORY.fullmatch(repository)
          and (tag is None or TAG.fullmatch(tag)) and (not digest or DIGEST.fullmatch(digest)))
    if not ok:
        raise SupplyError(f"{text!r} is not an image reference: write REGISTRY/REPOSITORY"
                          "[:TAG]@sha256:<64 hex>, e.g. ghcr.io/owner/app@sha256:….")
    return ImageRef(registry, repository, tag, digest or None)
