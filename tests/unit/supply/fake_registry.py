"""An in-memory OCI registry behind httpx.MockTransport, with the referrers API switchable:
nothing that runs here (distribution 2.8) answers `GET /v2/<name>/referrers/<digest>`, so
this is what the API path is tested against; the tag-schema path also runs on the real rig."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

import httpx

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ROUTE = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs|referrers)/(?P<ref>[^/]*)$")
STORAGE = re.compile(r"^/storage/(?P<name>.+?)/(?P<digest>sha256:[0-9a-f]{64})$")
UPLOAD = re.compile(r"^/v2/(?P<name>.+?)/blobs/uploads/(?P<id>[^/]*)$")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class FakeRegistry:
    referrers_api: bool = True
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (name, digest) → data
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    tags: dict[tuple[str, str], str] = field(default_factory=dict)  # (name, tag) → digest
    requests: list[str] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def put_image(self, name: str, tag: str, body: bytes, media_type: str) -> str:
        digest = digest_of(body)
        self.manifests[(name, digest)] = (body, media_type)
        self.tags[(name, tag)] = digest
        return digest

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        self.requests.append(f"{method} {path}")
        upload = UPLOAD.match(path)
        if upload and method == "POST":
            location = f"/v2/{upload['name']}/blobs/uploads/1?_state=opaque"  # as distribution
            return httpx.Response(202, headers={"Location": location})
        if upload and method == "PUT":
            if request.url.params.get("_state") != "opaque":  # the Location's query is kept
                return httpx.Response(404, json={"errors": [{"code": "BLOB_UPLOAD_INVALID"}]})
            data = request.content
            assert digest_of(data) == request.url.params["digest"]
            self.blobs[(upload["name"], digest_of(data))] = data
            return httpx.Response(201)
        stored = STORAGE.match(path)
        if stored:  # where blobs are served from, as object storage would (no auth needed)
            assert "Authorization" not in request.headers
            blob = self.blobs.get((stored["name"], stored["digest"]))
            return httpx.Response(200, content=blob) if blob is not None else httpx.Response(404)
        route = ROUTE.match(path)
        if route is None:
            return httpx.Response(404)
        name, kind, ref = route["name"], route["kind"], route["ref"]
        if kind == "blobs" and method == "GET" and (name, ref) in self.blobs:
            where = f"http://storage.invalid/storage/{name}/{ref}"  # another origin, as ghcr's
            return httpx.Response(307, headers={"Location": where})
        if kind == "blobs":
            found = (name, ref) in self.blobs
            return httpx.Response(200 if found else 404)
        if kind == "referrers":
            return self.referrers(name, ref) if self.referrers_api else httpx.Response(404)
        return self.manifest(request, name, ref)

    def manifest(self, request: httpx.Request, name: str, ref: str) -> httpx.Response:
        if request.method == "PUT":
            body = request.content
            digest = digest_of(body)
            self.manifests[(name, digest)] = (body, request.headers["Content-Type"])
            if not ref.startswith("sha256:"):
                self.tags[(name, ref)] = digest
            headers = {"Docker-Content-Digest": digest}
            subject = json.loads(body).get("subject")
            if self.referrers_api and subject:
                headers["OCI-Subject"] = subject["digest"]
            return httpx.Response(201, headers=headers)
        found = ref if ref.startswith("sha256:") else self.tags.get((name, ref))
        if found is None or (name, found) not in self.manifests:
            return httpx.Response(404)
        body, media_type = self.manifests[(name, found)]
        headers = {"Docker-Content-Digest": found, "Content-Type": media_type,
                   "Content-Length": str(len(body))}
        return httpx.Response(200, headers=headers,
                              content=b"" if request.method == "HEAD" else body)

    def referrers(self, name: str, subject: str) -> httpx.Response:
        found = []
        for (repository, digest), (body, media_type) in self.manifests.items():
            if repository != name:
                continue
            raw = json.loads(body)
            if (raw.get("subject") or {}).get("digest") == subject:
                found.append({"mediaType": media_type, "digest": digest, "size": len(body),
                              "artifactType": raw.get("artifactType"),
                              "annotations": raw.get("annotations") or {}})
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found}
        return httpx.Response(200, headers={"Content-Type": OCI_INDEX}, json=index)
