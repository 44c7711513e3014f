"""A registry's 401 challenge answered (basic, or a bearer token from an allowed realm), and
http only for loopback registries: shared by the pipeline's and the verifier's clients."""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable, Generator

import httpx

from supply.errors import RegistryFailed

CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def registry_scheme(registry: str) -> str:
    """http only for loopback registries (127.0.0.0/8, [::1], localhost); https elsewhere."""
    if registry.startswith("["):
        host = registry[1 : registry.find("]")]
    else:
        host = registry.rsplit(":", 1)[0]
    if host == "localhost":
        return "http"
    try:
        return "http" if ipaddress.ip_address(host).is_loopback else "https"
    except ValueError:
        return "https"


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="..",service=".."` → ("bearer", {realm, service, ...})."""
    scheme, _, params = header.strip().partition(" ")
    return scheme.lower(), dict(CHALLENGE_PARAM.findall(params))


def credentials_may_go_to(realm: str, registry: httpx.URL) -> bool:
    """A token realm gets the registry's basic credentials over https, or over plain http
    only on the registry's own host when the registry itself is spoken to over http."""
    try:
        target = httpx.URL(realm)
    except httpx.InvalidURL:
        return False
    if target.scheme == "https" and target.host:
        return True
    return target.scheme == registry.scheme == "http" and target.host == registry.host


def refuse_realm(realm: str, registry: httpx.URL) -> str:
    return (
        f"{registry.host} asks for a token from {realm!r}, which is neither https nor the "
        "registry's own host over http, so the registry credentials are not sent there. "
        "Serve the token endpoint over https or from the registry's own host."
    )


class RegistryAuth(httpx.Auth):
    """Answers a registry's 401 challenge: basic auth, or a bearer token (GHCR, Docker Hub)
    from a realm that `credentials_may_go_to` allows; without a password, an anonymous
    token (what a public image on ghcr.io needs to be read)."""

    requires_response_body = True  # the token endpoint's JSON, read by sync and async clients

    def __init__(
        self, username: str | None, password: str | None,
        refuse: Callable[[str], Exception] = RegistryFailed,
    ) -> None:
        self.username = username
        self.password = password
        self.refuse = refuse  # the caller's error for a realm the credentials may not go to
        self.token: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # httpx follows a redirect inside this flow's one request, and strips the header when
        # it leaves the registry's origin: a blob's storage (ghcr.io's CDN, a signed S3 URL)
        # never gets the token (tests/integration/test_promote.py checks it)
        if self.token:
            request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic" and self.password:
            request.headers["Authorization"] = basic_header(self.username or "", self.password)
        elif scheme == "bearer" and "realm" in params:
            if self.password and not credentials_may_go_to(params["realm"], request.url):
                raise self.refuse(refuse_realm(params["realm"], request.url))
            query = {key: params[key] for key in ("service", "scope") if key in params}
            token_request = httpx.Request("GET", params["realm"], params=query)
            if self.password:
                token_request.headers["Authorization"] = basic_header(
                    self.username or "token", self.password
                )
            token_response = yield token_request
            if token_response.status_code != 200:
                return
            body = token_response.json()
            self.token = str(body.get("token") or body.get("access_token") or "")
            request.headers["Authorization"] = f"Bearer {self.token}"
        else:
            return
        yield request
