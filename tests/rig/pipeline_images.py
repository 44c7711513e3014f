"""Stand-ins for the pipeline's public base images, built from the rig's local Debian base."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.rig.docker import Dockerd, image_label
from tests.rig.fixtures import rig_part
from tests.rig.images import KEY_LABEL, base_key, cache_dir, docker_build, ensure_base_image
from tests.rig.proc import file_lock, run

PYTHON_STANDIN = "shipyard-rig/python:bookworm"
# Every public Python image name the pipeline (or its Dockerfile) asks for; all are one image.
PYTHON_IMAGE_NAMES = (
    "python:3.12-slim-bookworm",
    "python:3.12-slim",
    "python:3.11-slim-bookworm",
)
RECIPE = "3"  # bump when python_dockerfile changes
APT_PACKAGES = ("git",)
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the host's bundle, copied by the base image
PYTHON_HOME = "/opt/python"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def python_dockerfile(base: str, key: str) -> str:
    """What the official slim image gives a pipeline step: root; python, python3 and pip first
    on PATH with console scripts installed beside them (a venv here); venv; git; and the
    machine's CAs for pip and requests (this machine reaches PyPI through them).

    Debian's python3 is 3.11 (the official tag says 3.12): the stand-in matches the image's
    behaviour, not its version.
    """
    packages = " ".join(APT_PACKAGES)
    return (
        f"FROM {base}\n"
        f"RUN apt-get update && apt-get install -y --no-install-recommends {packages} "
        f"&& rm -rf /var/lib/apt/lists/* && python3 -m venv {PYTHON_HOME}\n"
        # requests (pip-audit, safety) reads its CAs from these, not from pip.conf.
        f"ENV PATH={PYTHON_HOME}/bin:{DEFAULT_PATH} "
        f"REQUESTS_CA_BUNDLE={CA_BUNDLE} SSL_CERT_FILE={CA_BUNDLE}\n"
        "USER root\n"
        "WORKDIR /\n"
        'CMD ["python3"]\n'
        f'LABEL {KEY_LABEL}="{key}"\n'
    )


def python_key() -> str:
    return hashlib.sha256(f"{RECIPE}\n{base_key()}\n{APT_PACKAGES}".encode()).hexdigest()[:16]


def ensure_python_images(workdir: Path) -> tuple[str, ...]:
    """Build the Python stand-in once (cached by key) and tag it under every public name."""
    with file_lock(cache_dir() / "python-image.lock"):
        base = ensure_base_image(workdir)
        key = python_key()
        if image_label(PYTHON_STANDIN, KEY_LABEL) != key:
            context = Path(tempfile.mkdtemp(prefix="python-image-", dir=workdir))
            try:
                (context / "Dockerfile").write_text(python_dockerfile(base, key))
                docker_build(["--tag", PYTHON_STANDIN, str(context)])
            finally:
                shutil.rmtree(context, ignore_errors=True)
        for name in PYTHON_IMAGE_NAMES:
            if image_label(name, KEY_LABEL) != key:
                run(["docker", "tag", PYTHON_STANDIN, name])
    return PYTHON_IMAGE_NAMES


@pytest.fixture(scope="session")
def pipeline_images(rig_dir: Path, dockerd: Dockerd) -> tuple[str, ...]:
    """The public Python image names the pipeline uses, present in the rig's dockerd."""
    return rig_part("the pipeline's Python images", lambda: ensure_python_images(rig_dir))
