"""Pure parts of the registry client: scheme choice, challenges, the revision check."""

from __future__ import annotations

import httpx
import pytest

from ci.errors import PromotionRefused, RegistryError
from ci.registry import (
    RegistryAuth,
    basic_header,
    check_revision,
    credentials_may_go_to,
    parse_challenge,
    registry_scheme,
)
from shipyard.identity import REVISION_LABEL


@pytest.mark.parametrize(
    ("registry", "scheme"),
    [("127.0.0.1:5000", "http"), ("127.9.8.7:80", "http"), ("localhost:5000", "http"),
     ("localhost", "http"), ("ghcr.io", "https"), ("10.0.0.5:5000", "https"),
     ("registry.example.com:443", "https"), ("[::1]:5000", "http"),
     ("[2001:db8::1]:5000", "https"), ("ghcr.io.127.0.0.1.nip.io", "https")],
)
def test_only_loopback_registries_get_plain_http(registry: str, scheme: str) -> None:
    assert registry_scheme(registry) == scheme


def test_parse_ghcr_bearer_challenge() -> None:
    header = 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/a:pull"'
    assert parse_challenge(header) == (
        "bearer",
        {"realm": "https://ghcr.io/token", "service": "ghcr.io", "scope": "repository:o/a:pull"},
    )
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})


def test_basic_header() -> None:
    assert basic_header("user", "pass") == "Basic dXNlcjpwYXNz"


SHA = "a" * 40


def test_revision_must_match_the_tags_commit() -> None:
    check_revision({REVISION_LABEL: SHA}, SHA, "o/app:sha-aaaaaaaaaaaa")
    with pytest.raises(PromotionRefused, match="built from commit bbbbbbbbbbbb, not aaaaaaaaaaaa"):
        check_revision({REVISION_LABEL: "b" * 40}, SHA, "o/app:sha-x")
    with pytest.raises(PromotionRefused, match="has no"):
        check_revision({}, SHA, "o/app:sha-x")


REALMS = [
    # realm named in the challenge, the registry's URL, may the credentials go there
    ("https://ghcr.io/token", "https://ghcr.io/v2/o/a/manifests/v1", True),
    ("https://auth.docker.io/token", "https://registry-1.docker.io/v2/o/a/manifests/v1", True),
    ("http://127.0.0.1:5000/token", "http://127.0.0.1:5000/v2/o/a/manifests/v1", True),
    ("http://127.0.0.1:5001/token", "http://127.0.0.1:5000/v2/o/a/manifests/v1", True),
    ("http://LOCALHOST/token", "http://localhost:5000/v2/o/a/manifests/v1", True),
    ("http://127.0.0.2:5000/token", "http://127.0.0.1:5000/v2/o/a/manifests/v1", False),
    ("http://evil.example/token", "http://127.0.0.1:5000/v2/o/a/manifests/v1", False),
    ("http://evil.example/token", "https://ghcr.io/v2/o/a/manifests/v1", False),
    ("http://ghcr.io/token", "https://ghcr.io/v2/o/a/manifests/v1", False),  # no downgrade
    ("ftp://ghcr.io/token", "https://ghcr.io/v2/o/a/manifests/v1", False),
    ("/token", "https://ghcr.io/v2/o/a/manifests/v1", False),
    ("", "https://ghcr.io/v2/o/a/manifests/v1", False),
]


@pytest.mark.parametrize(("realm", "registry", "allowed"), REALMS)
def test_credentials_go_only_over_https_or_to_the_registrys_own_host(
    realm: str, registry: str, allowed: bool
) -> None:
    assert credentials_may_go_to(realm, httpx.URL(registry)) is allowed


def challenge(request: httpx.Request, realm: str) -> httpx.Response:
    header = f'Bearer realm="{realm}",service="registry",scope="repository:o/a:pull"'
    return httpx.Response(401, headers={"WWW-Authenticate": header}, request=request)


def token_request_after(realm: str, registry: str) -> httpx.Request:
    """Drive httpx's auth flow as the client does: request, 401 challenge, token request."""
    flow = RegistryAuth("user", "s3cret").auth_flow(httpx.Request("GET", registry))
    first = next(flow)
    assert "Authorization" not in first.headers
    return flow.send(challenge(first, realm))


def test_a_token_realm_on_another_host_over_http_gets_no_credentials() -> None:
    with pytest.raises(RegistryError, match=r"http://evil\.example/token.*https") as raised:
        token_request_after("http://evil.example/token", "http://127.0.0.1:5000/v2/o/a/tags/list")
    assert "s3cret" not in str(raised.value)


def test_a_token_realm_over_https_gets_the_basic_credentials() -> None:
    sent = token_request_after("https://auth.example/token", "https://reg.example/v2/o/a/tags/list")
    assert sent.url.host == "auth.example"
    assert sent.headers["Authorization"] == basic_header("user", "s3cret")


def test_without_a_password_an_anonymous_token_is_asked_for() -> None:
    """A public image on ghcr.io: the 401's realm gives a pull token to anyone."""
    flow = RegistryAuth(None, None).auth_flow(
        httpx.Request("GET", "https://ghcr.io/v2/o/a/manifests/v1"))
    first = next(flow)
    sent = flow.send(challenge(first, "https://ghcr.io/token"))
    assert sent.url.host == "ghcr.io"
    assert sent.url.params["scope"] == "repository:o/a:pull"
    assert "Authorization" not in sent.headers
    retried = flow.send(httpx.Response(200, json={"token": "anon"}, request=sent))
    assert retried.headers["Authorization"] == "Bearer anon"
