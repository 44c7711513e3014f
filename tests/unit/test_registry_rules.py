"""Pure parts of the registry client: scheme choice, challenges, the revision check."""

from __future__ import annotations

import pytest

from ci.errors import PromotionRefused
from ci.registry import (
    REVISION_LABEL,
    basic_header,
    check_revision,
    parse_challenge,
    registry_scheme,
)


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
