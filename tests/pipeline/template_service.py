"""The template service as an adopter ships it: a repository made as docs/adopt.md says (the
fixture's files at its root plus what the guide's first table copies from this repository), its
blue-green app folders on the rig host, and `python -m deploy` run from that checkout."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from deploy.ledger import Release, parse_ledger
from tests.integration.deploy_helpers import target_environ
from tests.pipeline.test_pipeline_on_docker import (
    GIT_ENV,
    INHERITED,
    NOT_AUDITED_ACCEPTED,
    Checkout,
)
from tests.rig.apppath import AppPath, compose_down
from tests.rig.proc import STATE_DIR, file_lock
from tests.rig.registry import Registry
from tests.rig.sshd import SshHost

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "tests" / "fixtures" / "template-service"
GUIDE = REPO_ROOT / "docs" / "adopt.md"
OWNER, IMAGE_NAME = "shipyard", "template-backend"
REPOSITORY = f"{OWNER}/{IMAGE_NAME}"  # its own repository in the rig registry (not the demo's)
HEALTH_PATH = "/api/v1/utils/health-check/"
REVISION_LABEL = "org.opencontainers.image.revision"
# The guide's rows that an adopter may leave out (a compose file goes to the server, not here).
OPTIONAL = ("optional", "only if")
# What the operator keeps in the app folder on the server: the guide's single service, named
# as shipyard.toml's `name`; host networking (the rig has no bridge) on 127.0.0.1 and PORT,
# which init's layout gives each colour. The image's own user, read-only, no capabilities.
COMPOSE = """\
services:
  backend:
    image: ${REGISTRY}/${REPOSITORY_OWNER}/${IMAGE_NAME}:${IMAGE_TAG:-latest}
    restart: always
    user: "10001:10001"
    security_opt: ["no-new-privileges:true"]
    cap_drop: [ALL]
    read_only: true
    tmpfs: [/tmp]
    network_mode: host
    environment:
      - HOST=127.0.0.1
      - PORT=8000
"""


@dataclass(frozen=True, slots=True)
class Ports:
    """A rig port block (held by its lock): the proxy's port and blue's and green's."""

    lock: str
    proxy: int
    blue: int
    green: int


STAGING_PORTS = Ports("app-port-8000.lock", 8000, 8001, 8002)
PRODUCTION_PORTS = Ports("app-ports-8120-8129.lock", 8120, 8121, 8122)


@dataclass(frozen=True, slots=True)
class AppFolder:
    """A blue-green app folder of the template service and the settings that reach it."""

    app: AppPath
    ports: Ports
    environ: dict[str, str]  # STAGING_* (or PRODUCTION_*) for this folder

    @property
    def public(self) -> str:
        return f"http://127.0.0.1:{self.ports.proxy}"

    def history(self) -> list[Release]:
        ledger = self.app.path / ".deploy" / "releases.jsonl"
        return parse_ledger(ledger.read_text()) if ledger.exists() else []


def adopted_paths(guide: Path = GUIDE) -> list[str]:
    """The paths the guide's first table says to copy (its optional rows left out)."""
    section = guide.read_text().split("## 1.", 1)[1].split("\n## ", 1)[0]
    paths: list[str] = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`") or cells[1].startswith(OPTIONAL):
            continue
        paths += re.findall(r"`([^`]+)`", cells[0])
    return paths


def listed_files(root: Path, under: str = "") -> list[str]:
    """Files of `root` (tracked and untracked, not ignored) under the relative path `under`."""
    argv = ["git", "-C", str(root), "ls-files", "-co", "--exclude-standard", "-z"]
    listed = subprocess.run([*argv, *([under] if under else [])], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    return [name for name in listed.split("\0") if name and (root / name).is_file()]


def commit(path: Path, message: str) -> str:
    env = {**os.environ, **GIT_ENV}
    for argv in (["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", "-C", str(path), *argv], check=True, env=env, capture_output=True)
    return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def make_adopted_checkout(dest: Path) -> Checkout:
    """The template service's repository after following docs/adopt.md: its own files at the
    root, what the guide copies from here, and (the rig has no advisory data) pip-audit's
    not-audited findings accepted, committed as a new git repository."""
    template = TEMPLATE.relative_to(REPO_ROOT).as_posix()
    for name in listed_files(REPO_ROOT, template):
        target = dest / Path(name).relative_to(template)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    for wanted in adopted_paths():
        names = listed_files(REPO_ROOT, wanted.rstrip("/"))
        assert names, f"docs/adopt.md says to copy {wanted}, which this repository lacks"
        for name in names:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, dest / name)
    expires = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    with (dest / "security" / "allowlist.toml").open("a") as allowlist:
        allowlist.write(NOT_AUDITED_ACCEPTED.format(expires=expires))
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True,
                   capture_output=True)  # fmt: skip
    return Checkout(dest, commit(dest, "adopt shipyard"))


def clone_with(checkout: Checkout, dest: Path, path: str, old: str, new: str) -> Checkout:
    """A clone of checkout with one more commit: `old` replaced by `new` in `path`."""
    subprocess.run(["git", "clone", "-q", str(checkout.path), str(dest)], check=True,
                   capture_output=True)  # fmt: skip
    file = dest / path
    text = file.read_text()
    assert old in text, f"{path} no longer holds {old!r}"
    file.write_text(text.replace(old, new))
    return Checkout(dest, commit(dest, f"break {path}"))


def folder_environ(ssh_host: SshHost, app: AppPath, ports: Ports, proxy_image: str,
                   environment: str, **extra: str) -> dict[str, str]:  # fmt: skip
    """<ENVIRONMENT>_* for blue-green on this folder's ports."""
    settings = {"strategy": "blue-green", "proxy_image": proxy_image,
                "proxy_listen": f"127.0.0.1:{ports.proxy}",
                "colour_ports": f"{ports.blue}/{ports.green}", "watch": "1", "drain": "2",
                "health_port": str(ports.proxy)}  # the public port: the proxy's, not 80
    staging = target_environ(ssh_host, app, **{**settings, **extra})
    prefix = environment.upper()
    return {key.replace("STAGING_", f"{prefix}_", 1): value for key, value in staging.items()}


@contextmanager
def app_folder(parent: Path, name: str, ports: Ports, *, registry: Registry, ssh_host: SshHost,
               proxy_image: str, environment: str) -> Iterator[AppFolder]:  # fmt: skip
    """A fresh folder holding the operator's compose file and .env, used while its ports'
    lock is held; its compose project (proxy and colours) is taken down afterwards."""
    account = pwd.getpwnam(ssh_host.user)
    parent.mkdir(mode=0o755, exist_ok=True)
    path = parent / f"template-{name}"
    path.mkdir()
    env = {"COMPOSE_PROJECT_NAME": path.name, "ENV": environment,
           "REGISTRY": registry.address, "REPOSITORY_OWNER": OWNER, "IMAGE_NAME": IMAGE_NAME}
    (path / "docker-compose.yml").write_text(COMPOSE)
    (path / ".env").write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    for entry in (path, *path.iterdir()):
        os.chown(entry, account.pw_uid, account.pw_gid)
    app = AppPath(path=path, project=path.name, env=env, port=ports.proxy)
    with file_lock(STATE_DIR / ports.lock):
        try:
            yield AppFolder(app, ports, folder_environ(ssh_host, app, ports, proxy_image,
                                                       environment))  # fmt: skip
        finally:
            compose_down(app)


def deploy_cli(checkout: Checkout, environ: Mapping[str, str],
               *argv: str) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """`python -m deploy ARGV` run from the checkout (so it reads the checkout's shipyard.toml)."""
    env = {k: v for k, v in os.environ.items() if not INHERITED.fullmatch(k)}
    return subprocess.run([sys.executable, "-m", "deploy", *argv], cwd=checkout.path,
                          env={**env, **environ}, capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip


def status(checkout: Checkout, folder: AppFolder, environment: str) -> dict[str, object]:
    done = deploy_cli(checkout, folder.environ, environment, "status", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def registry_digest(registry: Registry, tag: str) -> str | None:
    return registry.digest(REPOSITORY, tag)


def docker_text(*argv: str) -> str:
    return subprocess.run(["docker", *argv], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


@dataclass(frozen=True, slots=True)
class Serving:
    """The colour container that runs in a blue-green folder: its service, image and label."""

    service: str
    image_id: str
    revision: str


def serving_colour(folder: AppFolder) -> Serving:
    """The one running colour container of the folder's project (the proxy left out)."""
    project = f"label=com.docker.compose.project={folder.app.project}"
    ids = docker_text("ps", "-q", "--filter", project)
    found = []
    for container in ids.split():
        service = docker_text("inspect", "--format",
                              '{{index .Config.Labels "com.docker.compose.service"}}', container)
        if service != "proxy":
            image = docker_text("inspect", "--format", "{{.Image}}", container)
            label = docker_text("inspect", "--format",
                                f'{{{{index .Config.Labels "{REVISION_LABEL}"}}}}', container)
            found.append(Serving(service, image, label))
    assert len(found) == 1, f"{folder.app.project} runs {found}"
    return found[0]


def health_answer(folder: AppFolder) -> object:
    return httpx.get(folder.public + HEALTH_PATH, timeout=5, trust_env=False).json()
