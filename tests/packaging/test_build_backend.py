"""The build-system lower bound is honest: the oldest setuptools it allows builds the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "ci", "deploy")


def setuptools_lower_bound() -> str:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    (setuptools,) = [Requirement(r) for r in requires if Requirement(r).name == "setuptools"]
    (bound,) = [s.version for s in setuptools.specifier if s.operator == ">="]
    return bound


def copy_project(into: Path) -> None:
    """What the build backend reads: pyproject.toml, README.md and the packages' markers."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, into / name)
    for package in PACKAGES:
        (into / package).mkdir()
        shutil.copy2(ROOT / package / "__init__.py", into / package / "__init__.py")


def test_the_oldest_allowed_setuptools_builds_the_metadata(tmp_path: Path) -> None:
    bound = setuptools_lower_bound()
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         f"setuptools=={bound}"], capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if installed.returncode != 0:
        if "from versions:" in installed.stderr:  # the index answered: the bound is not a release
            pytest.fail(f"setuptools=={bound} is not a published release; name one.")
        if os.environ.get("CI"):
            pytest.fail(f"cannot install setuptools=={bound}: {installed.stderr[-500:]}")
        pytest.skip(f"cannot install setuptools=={bound} here: {installed.stderr[-300:]}")
    project = tmp_path / "project"
    (project / "out").mkdir(parents=True)
    copy_project(project)
    built = subprocess.run(
        [python, "-c", "from setuptools import build_meta as b; "
         "print(b.prepare_metadata_for_build_wheel('out'))"],
        cwd=project, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, f"setuptools=={bound} cannot build: {built.stderr[-800:]}"
    metadata = (project / "out" / built.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: MIT" in metadata
