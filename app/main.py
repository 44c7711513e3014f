"""The app factory: /health and /version."""

from __future__ import annotations

import os

from fastapi import FastAPI

from app.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; settings default to the process environment."""
    current = settings or load_settings()
    app = FastAPI(title="shipyard", version=current.version)
    identity = {
        "version": current.version,
        "commit": current.commit,
        "environment": current.environment,
    }

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", **identity}

    @app.get("/version")
    def version() -> dict[str, str]:
        return dict(identity)

    app.state.settings = current
    return app


def serve() -> None:
    """Run the service with uvicorn (console script `shipyard-app`)."""
    import uvicorn

    host = os.environ.get("HOST", "0.0.0.0")  # noqa: S104 - a container listens on all its interfaces
    uvicorn.run(create_app(), host=host, port=int(os.environ.get("PORT", "8000")))
