"""OCI registry client (httpx): digests, labels, and promotion by copying a manifest."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ci.errors import PromotionRefused, RegistryError
from shipyard.identity import REVISION_LABEL
from supply import registry_auth
from supply.registry_auth import basic_header as basic_header  # the pipeline's names
from supply.registry_auth import credentials_may_go_to as credentials_may_go_to
from supply.registry_auth import parse_challenge as parse_challenge
from supply.registry_auth import registry_scheme as registry_scheme

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = frozenset(MANIFEST_TYPES[0::2])


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest's exact bytes, media type and digest (copying these keeps the digest)."""

    digest: str
    media_type: str
    body: bytes

    def json(self) -> dict[str, Any]:
        data = json.loads(self.body)
        if not isinstance(data, dict):
            raise RegistryError(f"Manifest {self.digest} is not a JSON object.")
        return data


class RegistryAuth(registry_auth.RegistryAuth):
    """supply's challenge answerer, refusing a token realm with the pipeline's RegistryError."""

    def __init__(self, username: str | None, password: str | None) -> None:
        super().__init__(username, password, RegistryError)


@dataclass(frozen=True, slots=True)
class Promotion:
    """The outcome of promoting one tag to another."""

    source: str
    target: str
    digest: str
    seconds: float
    manifest_bytes: int
    layer_bytes: int


@dataclass
class RegistryClient:
    """One repository in one registry, e.g. ghcr.io + acout/fastapi-supabase-template."""

    registry: str
    repository: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    bytes_uploaded: int = 0
    layer_bytes_uploaded: int = 0
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base = f"{registry_scheme(self.registry)}://{self.registry}/v2/{self.repository}"
        self.client = httpx.AsyncClient(
            auth=RegistryAuth(self.username, self.password),
            timeout=self.timeout,
            trust_env=False,
            event_hooks={"request": [self._count]},
        )

    async def _count(self, request: httpx.Request) -> None:
        self.requests.append(f"{request.method} {request.url.path}")
        if request.method in ("PUT", "POST", "PATCH"):
            self.bytes_uploaded += len(request.content)
            if "/blobs/" in request.url.path:
                self.layer_bytes_uploaded += len(request.content)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.base}/{path}"
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise RegistryError(
                f"{method} {self.registry}/{self.repository}/{path} failed: "
                f"{type(error).__name__}. Is the registry reachable?"
            ) from error
        if response.status_code == 401:
            raise RegistryError(
                f"{self.registry} refused our credentials for {self.repository}: set "
                "REGISTRY_USERNAME and REGISTRY_PASSWORD (or GITHUB_TOKEN for ghcr.io)."
            )
        return response

    async def digest(self, reference: str) -> str:
        """The manifest digest a tag points to (HEAD → Docker-Content-Digest)."""
        found = await self.find_digest(reference)
        if found is None:
            raise RegistryError(f"{self.registry}/{self.repository}:{reference} does not exist.")
        return found

    async def find_digest(self, reference: str) -> str | None:
        """The digest `reference` points to, or None when the registry says it does not exist."""
        response = await self._send(
            "HEAD", f"manifests/{reference}", headers={"Accept": ", ".join(MANIFEST_TYPES)}
        )
        if response.status_code == 404:
            return None
        digest = response.headers.get("Docker-Content-Digest")
        if response.status_code != 200 or not digest:
            raise RegistryError(
                f"HEAD {self.repository}:{reference} answered {response.status_code} "
                "without a Docker-Content-Digest header."
            )
        return str(digest)

    async def manifest(self, reference: str) -> Manifest:
        response = await self._send(
            "GET", f"manifests/{reference}", headers={"Accept": ", ".join(MANIFEST_TYPES)}
        )
        if response.status_code != 200:
            raise RegistryError(
                f"GET manifest {self.repository}@{reference} answered {response.status_code}."
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        digest = response.headers.get("Docker-Content-Digest") or reference
        return Manifest(digest=digest, media_type=media_type, body=response.content)

    async def labels(self, manifest: Manifest) -> dict[str, str]:
        """The image config's labels (the first platform's, for an index)."""
        data = manifest.json()
        if manifest.media_type in INDEX_TYPES or "manifests" in data:
            entries = data.get("manifests") or []
            if not entries:
                return {}
            return await self.labels(await self.manifest(str(entries[0]["digest"])))
        config_digest = str(data.get("config", {}).get("digest", ""))
        # registries backed by object storage (ghcr.io) answer a blob with a redirect; httpx
        # drops the Authorization header when the redirect leaves the registry's origin
        response = await self._send("GET", f"blobs/{config_digest}", follow_redirects=True)
        if response.status_code != 200:
            raise RegistryError(f"GET config blob {config_digest} answered {response.status_code}.")
        if "sha256:" + hashlib.sha256(response.content).hexdigest() != config_digest:
            raise RegistryError(
                f"{self.registry}/{self.repository}: the config blob {config_digest} the "
                "registry sent does not match its digest; the image cannot be trusted."
            )
        config = response.json().get("config") or {}
        return {str(k): str(v) for k, v in (config.get("Labels") or {}).items()}

    async def put_manifest(self, tag: str, manifest: Manifest) -> str:
        response = await self._send(
            "PUT",
            f"manifests/{tag}",
            content=manifest.body,
            headers={"Content-Type": manifest.media_type},
        )
        if response.status_code not in (200, 201):
            raise RegistryError(
                f"PUT manifest {self.repository}:{tag} answered {response.status_code}: "
                f"{response.text[:200]}"
            )
        return str(response.headers.get("Docker-Content-Digest", manifest.digest))


async def promote(
    client: RegistryClient, source_tag: str, target_tag: str, *, revision: str
) -> Promotion:
    """Copy `source_tag`'s manifest to `target_tag` after checking it was built from `revision`."""
    started = time.perf_counter()
    before = (client.bytes_uploaded, client.layer_bytes_uploaded)
    digest = await client.digest(source_tag)
    manifest = await client.manifest(digest)
    labels = await client.labels(manifest)
    check_revision(labels, revision, f"{client.repository}:{source_tag}")
    pushed = await client.put_manifest(target_tag, manifest)
    landed = await client.digest(target_tag)
    if pushed != digest or landed != digest:
        raise RegistryError(
            f"{client.repository}:{target_tag} has digest {landed}, not {digest}: the registry "
            "rewrote the manifest; promotion is not trustworthy here."
        )
    return Promotion(
        source=source_tag,
        target=target_tag,
        digest=digest,
        seconds=time.perf_counter() - started,
        manifest_bytes=client.bytes_uploaded - before[0],
        layer_bytes=client.layer_bytes_uploaded - before[1],
    )


def check_revision(labels: dict[str, str], revision: str, image: str) -> None:
    """Refuse an image without a revision label, or built from another commit."""
    found = labels.get(REVISION_LABEL)
    if not found:
        raise PromotionRefused(
            f"{image} has no {REVISION_LABEL} label, so nothing proves it was built from "
            f"{revision[:12]}: rebuild it with the pipeline before promoting."
        )
    if found != revision:
        raise PromotionRefused(
            f"{image} was built from commit {found[:12]}, not {revision[:12]}: refusing to "
            "promote an image that was not tested for this tag's commit."
        )
