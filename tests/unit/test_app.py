"""The service through httpx against the ASGI app."""

from __future__ import annotations

import httpx
import pytest

from app.main import create_app
from app.settings import load_settings


async def get(path: str, environ: dict[str, str]) -> httpx.Response:
    app = create_app(load_settings(environ))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        return await client.get(path)


ENV = {"APP_VERSION": "1.2.3", "APP_COMMIT": "abc123", "ENVIRONMENT": "staging"}


@pytest.mark.anyio
async def test_health_reports_identity() -> None:
    response = await get("/health", ENV)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok", "version": "1.2.3", "commit": "abc123", "environment": "staging",
    }


@pytest.mark.anyio
async def test_version_matches_health_identity() -> None:
    response = await get("/version", ENV)
    assert response.json() == {"version": "1.2.3", "commit": "abc123", "environment": "staging"}


@pytest.mark.anyio
async def test_defaults_without_any_configuration() -> None:
    response = await get("/health", {})
    assert response.json()["version"] == "dev"
    assert response.json()["environment"] == "development"


def test_supabase_settings_pass_through_and_key_is_masked() -> None:
    settings = load_settings({"SUPABASE_URL": "https://x.supabase.co", "SUPABASE_KEY": "k-123"})
    assert settings.supabase_url == "https://x.supabase.co"
    assert settings.supabase_key == "k-123"
    assert "k-123" not in repr(settings)
