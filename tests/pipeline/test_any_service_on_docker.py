"""The build and smoke stages on a service that is not the demo, on the Docker-backed stand-in
engine: tests/fixtures/template-service (backend/Dockerfile, port 80, JSON `true` at
/api/v1/utils/health-check/, identity by the image's revision label) on the rig's base."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import dagger
import pytest

from ci.errors import CiError
from ci.plan import plan_release
from ci.settings import Settings
from ci.stages import build, smoke
from ci.stages.context import StageContext
from shipyard.declaration import load_declaration
from shipyard.identity import REVISION_LABEL
from tests.pipeline.docker_engine import DockerEngine

pytestmark = [pytest.mark.rig, pytest.mark.anyio]

TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "template-service"
SHA = "0123456789abcdef0123456789abcdef01234567"
WRONG = "not-this-commit"


def stage_context(root: Path, base_image: str, said: list[str]) -> StageContext:
    return StageContext(
        plan_release("refs/heads/develop", SHA, "push"), Settings(base_image=base_image), root,
        said.append, source_date_epoch=1_767_225_600, declaration=load_declaration(root),
    )  # fmt: skip


async def build_and_smoke(ctx: StageContext) -> tuple[str, str, float, float]:
    started = time.perf_counter()
    built = await build.run(ctx)
    between = time.perf_counter()
    smoked = await smoke.run(ctx)
    return built, smoked, between - started, time.perf_counter() - between


async def test_the_template_service_builds_and_passes_smoke_by_its_revision_label(
    docker_engine: DockerEngine, base_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    said: list[str] = []
    async with dagger.connection():
        first = await build_and_smoke(stage_context(TEMPLATE, base_image, said))
        again = await build_and_smoke(stage_context(TEMPLATE, base_image, said))
        image = stage_context(TEMPLATE, base_image, said).image()
        revision = await image.label(REVISION_LABEL)
        uid = await image.with_exec(["id", "-u"]).stdout()
    built, smoked, _, _ = first
    assert "backend/Dockerfile" in built
    assert smoked == (f"the image answers /api/v1/utils/health-check/ on port 80 as "
                      f"{SHA[:12]} (its revision label), as a non-root user")
    assert revision == SHA
    assert uid.strip() == "10001"
    # relative to the context, backend/ (the SDK leaves the default out of the query)
    [dockerfile] = {c.args.get("dockerfile", "Dockerfile") for c in docker_engine.calls(
        "dockerBuild")}
    assert dockerfile == "Dockerfile"
    assert {str(c.args.get("target")) for c in docker_engine.calls("dockerBuild")} == {"runtime"}
    assert {str(c.args["path"]) for c in docker_engine.calls("directory")
            if c.type_name == "Directory"} == {"backend"}  # fmt: skip
    with capsys.disabled():
        print(f"\ntemplate-service on the stand-in: build {first[2]:.1f} s, smoke "
              f"{first[3]:.1f} s; again: build {again[2]:.1f} s, smoke {again[3]:.1f} s")


async def test_a_wrong_revision_label_fails_smoke_naming_it(
    docker_engine: DockerEngine, base_image: str, tmp_path: Path
) -> None:
    root = tmp_path / "template-service"
    shutil.copytree(TEMPLATE, root)
    dockerfile = root / "backend" / "Dockerfile"
    text = dockerfile.read_text()
    assert f'{REVISION_LABEL}="${{COMMIT}}"' in text
    dockerfile.write_text(text.replace(f'{REVISION_LABEL}="${{COMMIT}}"',
                                       f'{REVISION_LABEL}="{WRONG}"'))
    ctx = stage_context(root, base_image, [])
    async with dagger.connection():
        await build.run(ctx)
        with pytest.raises(CiError) as failed:
            await smoke.run(ctx)
    message = str(failed.value)
    assert f"the image's {REVISION_LABEL} label is '{WRONG}', not {SHA[:12]}" in message
    assert "root" not in message  # the health answer and the user were right
    assert "smoke" in ctx.debug  # a terminal can open where the probe ran
