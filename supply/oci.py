"""OCI registry client for artifacts (httpx): blobs, manifests, and referrers, through the
referrers API where the registry has one, else the referrers tag schema it maintains."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from supply.artifacts import (
    EMPTY_CONFIG,
    EMPTY_JSON,
    OCI_INDEX,
    Descriptor,
    index_with,
    parse_index,
    referrer_descriptor,
    referrers_tag,
    sha256,
)
from supply.errors import RegistryFailed
from supply.registry_auth import RegistryAuth, registry_scheme

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
Via = Literal["referrers API", "referrers tag"]


@dataclass(frozen=True, slots=True)
class Fetched:
    """A manifest's exact bytes and what the registry said it is."""

    body: bytes
    descriptor: Descriptor


@dataclass
class ArtifactClient:
    """One repository of one registry, e.g. ghcr.io + owner/app; loopback speaks http."""

    registry: str
    repository: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    uploaded: int = 0  # bytes PUT/POSTed (manifests and blobs)
    layer_bytes: int = 0  # bytes of blobs uploaded
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.base = f"{registry_scheme(self.registry)}://{self.registry}/v2/{self.repository}"
        self.client = httpx.AsyncClient(
            auth=RegistryAuth(self.username, self.password), timeout=self.timeout,
            trust_env=False, event_hooks={"request": [self._count]}, transport=self.transport,
        )  # fmt: skip

    async def _count(self, request: httpx.Request) -> None:
        if request.method in ("PUT", "POST", "PATCH"):
            self.uploaded += len(request.content)
            if "/blobs/" in request.url.path:
                self.layer_bytes += len(request.content)

    async def __aenter__(self) -> ArtifactClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.client.aclose()

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        target = url if url.startswith("http") else f"{self.base}/{url}"
        try:
            response = await self.client.request(method, target, **kwargs)
        except httpx.HTTPError as error:
            raise RegistryFailed(f"{method} {self.name}/{url[:80]} failed: "
                                 f"{type(error).__name__}. Is the registry reachable?") from error
        if response.status_code == 401:
            raise RegistryFailed(f"{self.registry} refused our credentials for {self.repository}:"
                                 " give a user and password (or token) that may read it.")
        return response

    async def find(self, reference: str) -> Descriptor | None:
        """What `reference` (tag or digest) points to; None when it does not exist."""
        response = await self._send("HEAD", f"manifests/{reference}",
                                    headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if response.status_code == 404:
            return None
        digest = response.headers.get("Docker-Content-Digest")
        if response.status_code != 200 or not digest:
            raise RegistryFailed(f"HEAD {self.name}:{reference} answered {response.status_code} "
                                 "without a Docker-Content-Digest header.")  # fmt: skip
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Descriptor(media_type, str(digest), int(response.headers.get("Content-Length", 0)))

    async def manifest(self, reference: str) -> Fetched | None:
        response = await self._send("GET", f"manifests/{reference}",
                                    headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryFailed(f"GET {self.name} manifest {reference} answered "
                                 f"{response.status_code}.")  # fmt: skip
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        body = response.content
        if reference.startswith("sha256:") and sha256(body) != reference:
            raise RegistryFailed(f"{self.name}@{reference}: the registry sent a manifest whose "
                                 f"digest is {sha256(body)}.")  # fmt: skip
        return Fetched(body, Descriptor(media_type, sha256(body), len(body)))

    async def blob(self, digest: str) -> bytes:
        # registries backed by object storage (ghcr.io) answer with a redirect; httpx drops
        # the Authorization header when the redirect leaves the registry's origin
        response = await self._send("GET", f"blobs/{digest}", follow_redirects=True)
        if response.status_code != 200:
            raise RegistryFailed(f"GET {self.name} blob {digest} answered {response.status_code}.")
        if sha256(response.content) != digest:
            raise RegistryFailed(f"{self.name} blob {digest} does not match its digest.")
        return response.content

    async def push_blob(self, data: bytes, media_type: str) -> Descriptor:
        """Upload `data` (monolithic POST + PUT) unless the repository has it already."""
        descriptor = Descriptor.of(data, media_type)
        if (await self._send("HEAD", f"blobs/{descriptor.digest}")).status_code == 200:
            return descriptor
        started = await self._send("POST", "blobs/uploads/")
        location = started.headers.get("Location")
        if started.status_code != 202 or not location:
            raise RegistryFailed(f"{self.name} refused a blob upload ({started.status_code}).")
        if location.startswith("/"):
            location = f"{self.base.split('/v2/')[0]}{location}"
        url = str(httpx.URL(location).copy_merge_params({"digest": descriptor.digest}))
        done = await self._send("PUT", url, content=data,  # the upload's own query kept
                                headers={"Content-Type": "application/octet-stream"})
        if done.status_code != 201:
            raise RegistryFailed(f"{self.name} did not take blob {descriptor.digest} "
                                 f"({done.status_code}: {done.text[:200]}).")  # fmt: skip
        return descriptor

    async def put_manifest(self, reference: str, body: bytes, media_type: str) -> httpx.Response:
        response = await self._send("PUT", f"manifests/{reference}", content=body,
                                    headers={"Content-Type": media_type})
        if response.status_code not in (200, 201):
            raise RegistryFailed(f"PUT {self.name} manifest {reference} answered "
                                 f"{response.status_code}: {response.text[:200]}")  # fmt: skip
        return response

    async def push_artifact(self, manifest: bytes, subject: str) -> Descriptor:
        """Push an artifact manifest by digest; when the registry does not say it indexed the
        subject (no `OCI-Subject` header), add it to the `sha256-<hex>` referrers index."""
        for blob, media_type in ((EMPTY_JSON, EMPTY_CONFIG.media_type),):
            await self.push_blob(blob, media_type)
        descriptor = referrer_descriptor(manifest)
        response = await self.put_manifest(descriptor.digest, manifest, descriptor.media_type)
        if response.headers.get("OCI-Subject") != subject:
            await self.add_to_tag_index(subject, descriptor)
        return descriptor

    async def add_to_tag_index(self, subject: str, descriptor: Descriptor) -> None:
        tag = referrers_tag(subject)
        found = await self.manifest(tag)
        existing = parse_index(found.body) if found else ()
        if descriptor.digest not in {d.digest for d in existing}:
            await self.put_manifest(tag, index_with(existing, descriptor), OCI_INDEX)

    async def referrers(self, subject: str) -> tuple[tuple[Descriptor, ...], Via]:
        """What refers to `subject`: the referrers API's answer, or (a 404: no API) the
        referrers tag's index; an empty tuple when neither has anything."""
        response = await self._send("GET", f"referrers/{subject}",
                                    headers={"Accept": OCI_INDEX})  # fmt: skip
        api_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if response.status_code == 200 and api_type == OCI_INDEX:
            return parse_index(response.content), "referrers API"
        if response.status_code not in (404, 405, 400):
            raise RegistryFailed(f"GET {self.name} referrers/{subject} answered "
                                 f"{response.status_code}.")  # fmt: skip
        found = await self.manifest(referrers_tag(subject))
        return (parse_index(found.body) if found else ()), "referrers tag"

