"""Environment variables → the service's frozen Settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    """What the service knows about itself and where it runs."""

    version: str
    commit: str
    environment: str
    supabase_url: str | None = None
    supabase_key: str | None = None

    def __repr__(self) -> str:
        key = "set" if self.supabase_key else "unset"
        return (
            f"Settings(version={self.version!r}, commit={self.commit!r}, "
            f"environment={self.environment!r}, supabase_url={self.supabase_url!r}, "
            f"supabase_key=<{key}>)"
        )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings; the image bakes APP_VERSION and APP_COMMIT in at build time."""
    env = os.environ if environ is None else environ
    return Settings(
        version=env.get("APP_VERSION") or "dev",
        commit=env.get("APP_COMMIT") or "unknown",
        environment=env.get("ENVIRONMENT") or "development",
        supabase_url=env.get("SUPABASE_URL") or None,
        supabase_key=env.get("SUPABASE_KEY") or None,
    )
