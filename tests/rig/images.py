"""Images: a local Debian base (debootstrap, cached) and the product's image built on it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tests.rig.docker import image_exists, image_label
from tests.rig.proc import RigError, file_lock, require_program, require_root, run

BASE_IMAGE = "shipyard-base:bookworm"
SUITE = "bookworm"
RECIPE = "2"  # bump when rootfs_tarball changes what it puts in the tarball
INCLUDES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
KEY_LABEL = "org.shipyard.rig.key"
APP_REPOSITORY = "shipyard/app"
CREATED = "2026-01-01T00:00:00Z"  # fixed, so that repeated builds stay cached
# Never sent to the build context: big, or changing on every run.
CONTEXT_EXCLUDES = frozenset(
    {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".hypothesis", "build", "dist"}
)


class BuildAppImage(Protocol):
    """build_app_image(version, broken=False) -> pushed reference in the rig registry."""

    def __call__(self, version: str, *, broken: bool = False) -> str: ...


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "shipyard"


def mirror() -> str:
    return os.environ.get("SHIPYARD_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def rootfs_key() -> str:
    """What the cached debootstrap tarball depends on."""
    parts = [RECIPE, SUITE, "minbase", platform.machine(), mirror(), ",".join(sorted(INCLUDES))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def base_key() -> str:
    """What the final base image depends on: the rootfs and the host's CA bundle."""
    ca = hashlib.sha256(HOST_CA_BUNDLE.read_bytes()).hexdigest()
    return f"{rootfs_key()}-{ca[:16]}"


def rootfs_tarball(workdir: Path) -> Path:
    """The cached debootstrap tarball, made on a miss (~30-60 s, ~120 MB)."""
    tarball = cache_dir() / f"rootfs-{SUITE}-minbase-{rootfs_key()}.tar"
    if tarball.exists():
        return tarball
    require_root("debootstrap")
    debootstrap = require_program("debootstrap", "debootstrap")
    target = Path(tempfile.mkdtemp(prefix="rootfs-", dir=workdir))
    try:
        run(
            [debootstrap, "--variant=minbase", f"--include={','.join(INCLUDES)}",
             SUITE, str(target), mirror()],
            timeout=900,
        )
        trim_rootfs(target)
        tarball.parent.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial")
        run(["tar", "--numeric-owner", "-C", str(target), "-cf", str(partial), "."], timeout=300)
        partial.rename(tarball)
    finally:
        shutil.rmtree(target, ignore_errors=True)
    return tarball


def trim_rootfs(target: Path) -> None:
    """Drop the downloaded .debs and package lists (~170 MB) as slim images do."""
    for folder in (target / "var/cache/apt/archives", target / "var/lib/apt/lists"):
        for entry in folder.glob("*"):
            if entry.is_file() and entry.name != "lock":
                entry.unlink()


def ensure_base_image(workdir: Path) -> str:
    """shipyard-base:bookworm: Debian's python3 + venv + pip, trusting the host's CAs."""
    with file_lock(cache_dir() / "base-image.lock"):
        return _ensure_base_image(workdir)


def _ensure_base_image(workdir: Path) -> str:
    key = base_key()
    if image_label(BASE_IMAGE, KEY_LABEL) == key:
        return BASE_IMAGE
    rootfs_image = f"shipyard-rootfs:{rootfs_key()}"
    if not image_exists(rootfs_image):
        run(["docker", "import", str(rootfs_tarball(workdir)), rootfs_image], timeout=300)
    # pip inside builds must reach PyPI through the same CAs as the host.
    context = Path(tempfile.mkdtemp(prefix="base-", dir=workdir))
    try:
        shutil.copyfile(HOST_CA_BUNDLE, context / "ca-certificates.crt")
        (context / "pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
        (context / "Dockerfile").write_text(
            f"FROM {rootfs_image}\n"
            "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n"
            "COPY pip.conf /etc/pip.conf\n"
            "ENV LANG=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1\n"
            'CMD ["/bin/bash"]\n'
            f'LABEL {KEY_LABEL}="{key}"\n'
        )
        docker_build(["--tag", BASE_IMAGE, str(context)])
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return BASE_IMAGE


def docker_build(args: list[str], *, context_tar: bytes | None = None) -> None:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    argv = ["docker", "build", "--network", "host", *args]
    if context_tar is None:
        run(argv, env=env, timeout=900)
        return
    # A tar context on stdin: the build never walks .venv or .git of the work tree.
    result = subprocess.run(
        [*argv, "-"], input=context_tar, env=env, capture_output=True, timeout=900, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace").strip()
        raise RigError(f"`{' '.join(argv)} -` exited {result.returncode}:\n{output[-4000:]}")


def context_tarball(root: Path) -> bytes:
    """The build context of root as a tar, without CONTEXT_EXCLUDES and *.egg-info."""

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = Path(info.name).name
        if name in CONTEXT_EXCLUDES or name.endswith(".egg-info") or name.endswith(".pyc"):
            return None
        info.mtime = 0
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for child in sorted(root.iterdir()):
            tar.add(child, arcname=child.name, filter=keep)
    return buffer.getvalue()


def dockerfile_tar(dockerfile: str, files: dict[str, str] | None = None) -> bytes:
    """A build context holding only a Dockerfile (and small text files)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, text in {"Dockerfile": dockerfile, **(files or {})}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def fake_commit(version: str) -> str:
    return hashlib.sha1(f"shipyard-rig {version}".encode()).hexdigest()


@dataclass(slots=True)
class AppImageBuilder:
    """Builds the product's Dockerfile on the rig base and pushes it to the rig registry."""

    repo_root: Path
    registry: str
    base_image: str
    built: dict[tuple[str, bool], str] = field(default_factory=dict)

    def __call__(self, version: str, *, broken: bool = False) -> str:
        if (version, broken) not in self.built:
            self.built[version, broken] = self._build(version, broken)
        return self.built[version, broken]

    def reference(self, version: str) -> str:
        return f"{self.registry}/{APP_REPOSITORY}:{version}"

    def _build(self, version: str, broken: bool) -> str:
        local = f"shipyard-rig/app:{version}"
        if not (self.repo_root / "Dockerfile").exists():
            raise RigError(f"{self.repo_root / 'Dockerfile'} is missing: nothing to build.")
        docker_build(
            ["--tag", local, "--build-arg", f"BASE_IMAGE={self.base_image}",
             "--build-arg", f"VERSION={version}", "--build-arg", f"COMMIT={fake_commit(version)}",
             "--build-arg", f"CREATED={CREATED}",
             "--build-arg", f"SOURCE={self.repo_root.as_uri()}"],
            context_tar=context_tarball(self.repo_root),
        )
        if broken:
            local = self._break(local, version)
        ref = self.reference(version)
        run(["docker", "tag", local, ref])
        run(["docker", "push", ref], timeout=600)
        return ref

    def _break(self, good: str, version: str) -> str:
        """good's image, but serving 500 on every path (so /health never succeeds)."""
        broken = f"shipyard-rig/app:{version}-broken"
        entrypoint = json.dumps(["python3", "-c", BROKEN_SERVER])
        dockerfile = f"FROM {good}\nENTRYPOINT {entrypoint}\nCMD []\n"
        docker_build(["--tag", broken], context_tar=dockerfile_tar(dockerfile))
        return broken


BROKEN_SERVER = """\
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(500); self.end_headers(); self.wfile.write(b'broken on purpose')
    do_HEAD = do_POST = do_GET
http.server.HTTPServer(('127.0.0.1', 8000), H).serve_forever()
"""
