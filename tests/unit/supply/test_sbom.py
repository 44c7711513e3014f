"""The SBOM: the image's inventory (as its own python3 reports it) → CycloneDX 1.6 JSON that
validates against the CycloneDX schema, and the summary `ci/main.py sbom` prints."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from supply.errors import ArtifactError
from supply.sbom import (
    INVENTORY_SCRIPT,
    DebPackage,
    Distribution,
    Inventory,
    cyclonedx,
    parse_dpkg_status,
    parse_inventory,
    summarize,
)

DIGEST = "sha256:" + "ab" * 32
STATUS = """\
Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u4
Description: GNU C Library
 multi-line description

Package: removed-one
Status: deinstall ok config-files
Version: 1.0

Package: python3.11-minimal
Status: install ok installed
Architecture: amd64
Version: 3.11.2-6
"""


def test_dpkg_status_keeps_installed_packages_only() -> None:
    assert parse_dpkg_status(STATUS) == (
        DebPackage("libc6", "2.36-9+deb12u4", "amd64"),
        DebPackage("python3.11-minimal", "3.11.2-6", "amd64"),
    )
    assert parse_dpkg_status("") == ()


def test_the_inventory_script_reports_this_interpreters_environment() -> None:
    done = subprocess.run([sys.executable, "-c", INVENTORY_SCRIPT], capture_output=True,
                          text=True, check=True)
    inventory = parse_inventory(done.stdout)
    found = {d.name.lower(): d for d in inventory.python}
    assert found["httpx"].version == importlib.metadata.version("httpx")
    assert "httpcore" in found["httpx"].requires
    assert "h2" not in found["httpx"].requires  # only with the http2 extra


def test_unreadable_inventory_is_refused() -> None:
    with pytest.raises(ArtifactError, match="python3"):
        parse_inventory("sh: python3: not found")


INVENTORY = Inventory(
    (Distribution("fastapi", "0.115.0", ("pydantic", "starlette")),
     Distribution("pip", "24.0"),
     Distribution("pydantic", "2.9.0"),
     Distribution("Starlette", "0.38.0")),
    (DebPackage("libc6", "2.36-9", "amd64"),),
)


def test_cyclonedx_validates_and_summarizes() -> None:
    document = cyclonedx(INVENTORY, "127.0.0.1:5000/o/app", DIGEST)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document.decode()) is None
    raw = json.loads(document)
    purls = {c["purl"] for c in raw["components"]}
    assert "pkg:pypi/starlette@0.38.0" in purls
    assert "pkg:deb/debian/libc6@2.36-9?arch=amd64" in purls
    summary = summarize(document)
    assert summary.direct == (("fastapi", "0.115.0"),)  # not pip: the venv put it there
    assert summary.debs == 1
    assert len(summary.python) == 4
    assert summary.as_json()["python_packages"] == 4


def test_a_document_without_metadata_is_refused() -> None:
    with pytest.raises(ArtifactError, match="CycloneDX"):
        summarize(b'{"components": []}')
