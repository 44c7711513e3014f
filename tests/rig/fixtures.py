"""Session-scoped pytest fixtures that start the rig's servers and stop what they started."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from tests.rig.apppath import AppPath, compose_down, make_app_path
from tests.rig.docker import Dockerd, acquire_dockerd, release_dockerd
from tests.rig.images import AppImageBuilder, BuildAppImage, ensure_base_image
from tests.rig.proc import STATE_DIR, RigError, RigUnavailable, Server, file_lock
from tests.rig.registry import Registry, start_registry
from tests.rig.sshd import SshHost, start_sshd

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def rig_part(what: str, start: Callable[[], T]) -> T:
    """start(); skip when this machine cannot run `what` (outside CI), else fail loudly."""
    try:
        return start()
    except RigUnavailable as exc:
        message = f"rig: cannot start {what}: {exc}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    except RigError as exc:
        pytest.fail(f"rig: {what} failed: {exc}", pytrace=False)


def stop(server: Server | None) -> None:
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def rig_dir() -> Iterator[Path]:
    """A session folder (mode 755, so the deployer can reach app paths) removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="shipyard-rig-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd(rig_dir: Path) -> Iterator[Dockerd]:
    """The engine (reused, or started and stopped by the last rig session to leave)."""
    engine, server = rig_part("dockerd", acquire_dockerd)
    try:
        yield engine
    finally:
        release_dockerd(server)


@pytest.fixture(scope="session")
def registry(rig_dir: Path, dockerd: Dockerd) -> Iterator[Registry]:
    started, server = rig_part("the registry", lambda: start_registry(rig_dir / "registry"))
    try:
        yield started
    finally:
        stop(server)


@pytest.fixture(scope="session")
def registry_address(registry: Registry) -> str:
    """127.0.0.1:5000 (or the free port the registry got)."""
    return registry.address


@pytest.fixture(scope="session")
def base_image(rig_dir: Path, dockerd: Dockerd) -> str:
    return rig_part("the base image", lambda: ensure_base_image(rig_dir))


@pytest.fixture(scope="session")
def build_app_image(registry: Registry, base_image: str) -> BuildAppImage:
    """build_app_image(version, broken=False) -> "127.0.0.1:5000/shipyard/app:<version>"."""
    builder = AppImageBuilder(REPO_ROOT, registry.address, base_image)

    def build(version: str, *, broken: bool = False) -> str:
        return rig_part(f"the app image {version}", lambda: builder(version, broken=broken))

    return build


@pytest.fixture(scope="session")
def ssh_host(rig_dir: Path, dockerd: Dockerd) -> Iterator[SshHost]:
    host, server = rig_part("sshd", lambda: start_sshd(rig_dir / "sshd"))
    try:
        yield host
    finally:
        stop(server)


@contextmanager
def locked_app_path(
    name: str, lock: str, rig_dir: Path, registry: Registry, ssh_host: SshHost
) -> Iterator[AppPath]:
    """A fresh app folder, made and used while `lock` (its ports, across test sessions too) is
    held; its compose project is taken down afterwards."""
    account = pwd.getpwnam(ssh_host.user)
    parent = rig_dir / "apps"
    parent.mkdir(mode=0o755, exist_ok=True)
    with file_lock(STATE_DIR / lock):
        app = rig_part(f"the app path {name}", lambda: make_app_path(
            parent, name, REPO_ROOT / "docker-compose.yml",
            registry=registry.address, owner=(account.pw_uid, account.pw_gid),
        ))  # fmt: skip
        try:
            yield app
        finally:
            compose_down(app)


@pytest.fixture
def app_path(
    request: pytest.FixtureRequest, rig_dir: Path, registry: Registry, ssh_host: SshHost
) -> Iterator[AppPath]:
    """A fresh app folder for this test; the app listens on the host's 127.0.0.1:8000, so one
    such folder at a time on this machine."""
    with locked_app_path(request.node.name, "app-port-8000.lock", rig_dir, registry,
                         ssh_host) as app:  # fmt: skip
        yield app


@pytest.fixture
def second_app(
    request: pytest.FixtureRequest, rig_dir: Path, registry: Registry, ssh_host: SshHost
) -> Iterator[AppPath]:
    """Another app folder on the same host, for ports 8120-8129."""
    with locked_app_path(f"{request.node.name}-second", "app-ports-8120-8129.lock", rig_dir,
                         registry, ssh_host) as app:  # fmt: skip
        yield app
