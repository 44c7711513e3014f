"""The health probe against the real service app (ASGI), and the consecutive-pass policy."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.main import create_app
from app.settings import Settings
from deploy.host.health import judge, probe


def client_for(commit: str) -> httpx.AsyncClient:
    app = create_app(Settings(version="v1", commit=commit, environment="staging"))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


@pytest.mark.anyio
async def test_probe_passes_for_our_commit() -> None:
    async with client_for("abc") as client:
        result = await probe(client, "http://svc/health", expect_commit="abc")
    assert result.ok
    assert result.identity is not None
    assert result.identity["version"] == "v1"


@pytest.mark.anyio
async def test_probe_fails_when_another_build_answers() -> None:
    async with client_for("old") as client:
        result = await probe(client, "http://svc/health", expect_commit="new")
    assert not result.ok
    assert "'old'" in result.detail


@pytest.mark.anyio
async def test_probe_fails_on_404_and_passes_without_expectation() -> None:
    async with client_for("abc") as client:
        assert (await probe(client, "http://svc/nope")).detail == "HTTP 404"
        assert (await probe(client, "http://svc/health")).ok


@pytest.mark.parametrize(
    ("results", "needed", "healthy"),
    [([True, True, True], 3, True), ([True, False, True], 3, False), ([True], 1, True),
     ([False, True, True], 2, True), ([True, True], 3, False), ([], 1, False)],
)
def test_judge(results: list[bool], needed: int, healthy: bool) -> None:
    assert judge(results, needed) is healthy


@given(st.lists(st.booleans(), max_size=20), st.integers(1, 5))
def test_a_single_failure_in_the_window_is_never_healthy(results: list[bool], needed: int) -> None:
    if judge(results, needed):
        assert all(results[-needed:])
        assert len(results) >= needed
