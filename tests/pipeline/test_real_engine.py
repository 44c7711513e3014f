"""Against a real Dagger engine: `dagger run pytest -m dagger` (skipped without one)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagger
import pytest
from dagger import dag

from ci.plan import plan_release
from ci.settings import load_settings
from ci.stages import image as build_image

ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"

pytestmark = [
    pytest.mark.dagger,
    pytest.mark.skipif(
        shutil.which("dagger") is None or "DAGGER_SESSION_PORT" not in os.environ,
        reason="needs a real Dagger engine: install the dagger CLI and run "
        "`dagger run pytest -m dagger`",
    ),
]


@pytest.mark.anyio
async def test_the_image_carries_its_commit() -> None:
    plan = plan_release("refs/heads/develop", SHA)
    settings = load_settings(os.environ, ROOT)
    async with dagger.connection():
        source = dag.host().directory(str(ROOT), exclude=[".venv", ".git"], gitignore=True)
        image = build_image.image(source, plan, settings, source_date_epoch=1767225600)
        commit = await image.env_variable("APP_COMMIT")
        label = await image.label("org.opencontainers.image.revision")
        answer = await image.with_exec(
            ["python3", "-c", "from app.main import create_app\n"
             "print(create_app().state.settings.commit)"],
        ).stdout()
    assert commit == SHA
    assert label == SHA
    assert answer.strip() == SHA
