"""What Docker itself sends as the build context: `.env` files never, the copied files always."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.rig.docker import Dockerd
from tests.rig.proc import run

ROOT = Path(__file__).resolve().parents[2]
SECRET_FILES = [".env", ".env.production", "app/.env", "deploy/staging/.env.local"]
COPIED = ["app/requirements.txt", "app/main.py", "app/__init__.py"]  # what the Dockerfile copies

pytestmark = pytest.mark.rig


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True,
                            text=True, check=True)  # fmt: skip
    return [name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def context_files(dockerd: Dockerd) -> set[str]:
    """The repository's files plus stray `.env` files, built `FROM scratch` with `COPY . /ctx`
    by the legacy builder (Docker's own .dockerignore matching), listed back out."""
    tag = f"shipyard-context-test:{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="shipyard-context-") as tmp:
        context = Path(tmp) / "context"
        for name in tracked_files():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, context / name)
        for name in SECRET_FILES:
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            (context / name).write_text("SUPABASE_KEY=not-a-real-key\n")
        dockerfile = Path(tmp) / "Dockerfile.context"
        dockerfile.write_text("FROM scratch\nCOPY . /ctx/\n")
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        run(["docker", "build", "-q", "-f", str(dockerfile), "-t", tag, str(context)], env=env)
        container = run(["docker", "create", tag, "/none"]).stdout.strip()
        try:
            exported = Path(tmp) / "fs.tar"
            run(["docker", "export", "-o", str(exported), container])
            with tarfile.open(exported) as tar:
                names = {n.removeprefix("ctx/") for n in tar.getnames() if n.startswith("ctx/")}
        finally:
            run(["docker", "rm", "-f", container], check=False)
            run(["docker", "rmi", "-f", tag], check=False)
    return names


@pytest.mark.parametrize("path", SECRET_FILES)
def test_env_files_stay_out_of_the_build_context(context_files: set[str], path: str) -> None:
    assert path not in context_files


@pytest.mark.parametrize("path", COPIED)
def test_what_the_dockerfile_copies_is_in_the_context(context_files: set[str], path: str) -> None:
    assert path in context_files
