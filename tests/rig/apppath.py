"""App paths: a fresh compose project folder per test, as the deployer finds it on a host."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.rig.docker import remove_project_containers
from tests.rig.images import APP_REPOSITORY
from tests.rig.proc import RigError, run

COMPOSE_FILE = "docker-compose.yml"
OVERRIDE_FILE = "docker-compose.override.yml"
SERVICE = "api"
APP_PORT = 8000
# Compose picks this up by itself when no -f is given. Without a bridge, published ports do
# nothing, so the service shares the host's network and listens on its loopback.
OVERRIDE = f"""\
# Written by the test rig (tests/rig/apppath.py): no bridge network here.
services:
  {SERVICE}:
    network_mode: host
    ports: !reset []
"""
PROBE = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=2)"
# A release that cannot start on one host only (as if it needed a setting that host lacks):
# the container exits at once when IMAGE_TAG (from .env) is that tag, else runs the app.
REFUSE_SCRIPT = (
    "import os, runpy, sys; os.environ['RIG_IMAGE_TAG'] == {tag!r} and "
    "sys.exit('rig: {tag} cannot start on this host'); runpy.run_module('app', run_name='__main__')"
)


@dataclass(frozen=True, slots=True)
class AppPath:
    """A folder on the rig host holding the product's compose file, owned by the deployer."""

    path: Path
    project: str
    env: Mapping[str, str]
    port: int = APP_PORT

    @property
    def compose_file(self) -> Path:
        return self.path / COMPOSE_FILE

    @property
    def override_file(self) -> Path:
        return self.path / OVERRIDE_FILE

    @property
    def env_file(self) -> Path:
        return self.path / ".env"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    @property
    def version_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/version"


def override_text(port: int = APP_PORT, *, refuse_tag: str | None = None) -> str:
    """The rig's compose override: host network, the app on port, refuse_tag never starting."""
    environment: list[str] = []
    settings: list[str] = []
    if port != APP_PORT:  # the app honours PORT; the compose file's healthcheck asks 8000
        environment.append(f"PORT={port}")
        probe = ["CMD", "python3", "-c", PROBE.format(port=port)]
        settings.append(f"    healthcheck:\n      test: {json.dumps(probe)}\n")
    if refuse_tag is not None:
        environment.append("RIG_IMAGE_TAG=${IMAGE_TAG}")
        script = REFUSE_SCRIPT.format(tag=refuse_tag)
        settings.append(f"    command: {json.dumps(['python3', '-c', script])}\n")
    if environment:
        listed = "".join(f"      - {item}\n" for item in environment)
        settings.insert(0, f"    environment:\n{listed}")
    return OVERRIDE + "".join(settings)


def project_name(text: str) -> str:
    """A compose project name from a test name: lowercase [a-z0-9_-], starting alnum."""
    name = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return ("app-" + name)[:60].rstrip("-_")


def make_app_path(
    parent: Path,
    name: str,
    compose_source: Path,
    *,
    registry: str,
    owner: tuple[int, int],
    environment: str = "staging",
    port: int = APP_PORT,
) -> AppPath:
    """A new folder parent/<project> with compose file, override and .env (no IMAGE_TAG)."""
    if not compose_source.exists():
        raise RigError(f"{compose_source} is missing: the app path needs the product's file.")
    project = project_name(name)
    path = parent / project
    suffix = 1
    while path.exists():
        suffix += 1
        path = parent / f"{project}-{suffix}"
    project = path.name
    path.mkdir(parents=True)
    owner_name, image_name = APP_REPOSITORY.split("/")
    env = {
        "COMPOSE_PROJECT_NAME": project,
        "ENV": environment,
        # The compose file passes HOST=${APP_HOST:-0.0.0.0}; on the host network that would
        # be every interface of this machine.
        "APP_HOST": "127.0.0.1",
        "REGISTRY": registry,
        "REPOSITORY_OWNER": owner_name,
        "IMAGE_NAME": image_name,
    }
    shutil.copyfile(compose_source, path / COMPOSE_FILE)
    (path / OVERRIDE_FILE).write_text(override_text(port))
    (path / ".env").write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    for entry in (path, *path.iterdir()):
        os.chown(entry, *owner)
    return AppPath(path=path, project=project, env=env, port=port)


def compose_down(app: AppPath) -> None:
    """Stop and remove the project's containers, even if the test mangled its files."""
    # IMAGE_TAG may be required by the compose file and absent from .env: any value will do
    # for `down`, which finds containers by project label.
    env = {**os.environ, "IMAGE_TAG": os.environ.get("IMAGE_TAG", "down")}
    if app.compose_file.exists():
        run(
            ["docker", "compose", "--project-directory", str(app.path), "--project-name",
             app.project, "down", "--remove-orphans", "--volumes", "--timeout", "5"],
            env=env, cwd=app.path, check=False, timeout=120,
        )
    remove_project_containers(app.project)
