"""The load gate's profile from the declaration, and what counts as a failed answer (pure)."""

from __future__ import annotations

import pytest

from loadtest.profile import Profile
from shipyard.declaration import parse_declaration

DEMO = Profile()
TEMPLATE = Profile.declared(parse_declaration(
    '[health]\npath = "/api/v1/utils/health-check/"\nstatus = [200, 202]\nexpect = true\n'
    '[load]\npaths = { "/api/v1/utils/health-check/" = 5, "/api/v1/items/" = 1 }\n'
))  # fmt: skip


def test_the_default_profile_is_the_demos() -> None:
    assert DEMO.paths == (("/health", 3), ("/version", 1))
    assert DEMO.health_path == "/health"


def test_a_declared_profile_takes_paths_weights_and_contract() -> None:
    assert TEMPLATE.paths == (("/api/v1/utils/health-check/", 5), ("/api/v1/items/", 1))
    assert (TEMPLATE.health_path, TEMPLATE.health.status, TEMPLATE.health.expect) == (
        "/api/v1/utils/health-check/", [200, 202], True)


@pytest.mark.parametrize(("profile", "path", "status", "body", "problem"), [
    (DEMO, "/health", 200, '{"status": "ok", "commit": "x"}', None),
    (DEMO, "/health", 200, '{"status": "degraded"}', '/health answered "status": "degraded"'),
    (DEMO, "/health", 500, '{"status": "ok"}', "/health answered HTTP 500, not 200"),
    (DEMO, "/health", 200, "<html>", "/health did not answer JSON"),
    (DEMO, "/version", 200, "anything", None),
    (DEMO, "/version", 404, "", "HTTP 404"),
    (TEMPLATE, "/api/v1/utils/health-check/", 202, "true", None),
    (TEMPLATE, "/api/v1/utils/health-check/", 200, "false", "answered false, not true"),
    (TEMPLATE, "/api/v1/items/", 503, "", "HTTP 503"),
])  # fmt: skip
def test_what_fails_under_load(
    profile: Profile, path: str, status: int, body: str, problem: str | None
) -> None:
    found = profile.problem(path, status, body)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
