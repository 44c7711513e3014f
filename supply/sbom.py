"""Pure: what an image holds (its Python distributions and dpkg packages) → a CycloneDX
1.6 JSON SBOM (cyclonedx-python-lib), and a summary of one."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packageurl import PackageURL

from supply.errors import ArtifactError

if TYPE_CHECKING:
    from cyclonedx.model.component import Component

# Run by the image's own python3 (the service's environment): one JSON line on stdout.
INVENTORY_SCRIPT = """\
import importlib.metadata as m, json, os, re
def norm(name): return re.sub(r"[-_.]+", "-", name).lower()
python = []
for d in m.distributions():
    name = d.metadata["Name"]
    if not name: continue
    requires = [norm(re.split(r"[ ;<>=!~\\[(]", r, maxsplit=1)[0]) for r in d.requires or []
                if "extra" not in r.partition(";")[2]]  # an extra's needs are not the package's
    python.append({"name": name, "version": d.version, "requires": requires})
path = "/var/lib/dpkg/status"
dpkg = open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else ""
print(json.dumps({"python": python, "dpkg": dpkg}))
"""
MEDIA_TYPE = "application/vnd.cyclonedx+json"
PIP_SEEDS = frozenset({"pip", "setuptools", "wheel"})  # what `python -m venv` puts there


def normalize(name: str) -> str:
    """PEP 503: `Foo_Bar.baz` → `foo-bar-baz`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True, slots=True)
class Distribution:
    name: str
    version: str
    requires: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DebPackage:
    name: str
    version: str
    architecture: str


@dataclass(frozen=True, slots=True)
class Inventory:
    python: tuple[Distribution, ...]
    debs: tuple[DebPackage, ...]

    def direct(self) -> tuple[Distribution, ...]:
        """The distributions no other one requires: what was installed on purpose (not
        counting what `python -m venv` seeds: pip, setuptools)."""
        required = {name for dist in self.python for name in dist.requires} | PIP_SEEDS
        return tuple(d for d in self.python if normalize(d.name) not in required)


def parse_dpkg_status(text: str) -> tuple[DebPackage, ...]:
    """`/var/lib/dpkg/status` → the packages whose Status is `install ok installed`."""
    found = []
    for paragraph in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", paragraph, re.MULTILINE))
        if fields.get("Status", "").endswith(" installed") and fields.get("Package"):
            found.append(DebPackage(fields["Package"], fields.get("Version", ""),
                                    fields.get("Architecture", "")))  # fmt: skip
    return tuple(sorted(found, key=lambda deb: deb.name))


def parse_inventory(stdout: str) -> Inventory:
    """The inventory script's output → Inventory (the last JSON line counts)."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    try:
        raw = json.loads(lines[-1])
        python = {normalize(str(d["name"])): Distribution(
            str(d["name"]), str(d["version"]), tuple(sorted(set(d.get("requires") or ()))))
            for d in raw["python"]}  # fmt: skip
        dpkg = str(raw.get("dpkg") or "")
    except (IndexError, KeyError, TypeError, ValueError) as error:
        raise ArtifactError("The image's inventory script printed no readable JSON: does the "
                            "image have python3 (3.8 or later) on its PATH?") from error
    ordered = tuple(python[name] for name in sorted(python))
    return Inventory(ordered, parse_dpkg_status(dpkg))


def _python_component(dist: Distribution) -> Component:
    from cyclonedx.model.component import Component, ComponentType

    purl = PackageURL("pypi", None, normalize(dist.name), dist.version)
    return Component(name=dist.name, version=dist.version, type=ComponentType.LIBRARY,
                     purl=purl, bom_ref=str(purl))  # fmt: skip


def _deb_component(deb: DebPackage) -> Component:
    from cyclonedx.model.component import Component, ComponentType

    qualifiers = {"arch": deb.architecture} if deb.architecture else None
    purl = PackageURL("deb", "debian", deb.name, deb.version, qualifiers)
    return Component(name=deb.name, version=deb.version, type=ComponentType.LIBRARY,
                     purl=purl, bom_ref=str(purl))  # fmt: skip


def cyclonedx(inventory: Inventory, image: str, digest: str) -> bytes:
    """The CycloneDX 1.6 JSON document: the image as the metadata component, depending on
    the direct Python distributions; each distribution on what it requires. (The library is
    imported here: it takes ~0.13 s, which every `ci/main.py` command would pay otherwise.)"""
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion

    bom = Bom()
    root = Component(name=image, version=digest, type=ComponentType.CONTAINER,
                     bom_ref=f"{image}@{digest}")  # fmt: skip
    bom.metadata.component = root
    python = {normalize(d.name): _python_component(d) for d in inventory.python}
    for component in (*python.values(), *map(_deb_component, inventory.debs)):
        bom.components.add(component)
    bom.register_dependency(root, [python[normalize(d.name)] for d in inventory.direct()])
    for dist in inventory.python:
        needs = [python[name] for name in dist.requires if name in python]
        bom.register_dependency(python[normalize(dist.name)], needs)
    return make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6).output_as_string(
        indent=None).encode()  # fmt: skip


@dataclass(frozen=True, slots=True)
class SbomSummary:
    image: str
    python: tuple[tuple[str, str], ...]  # every pypi component (name, version)
    debs: int
    direct: tuple[tuple[str, str], ...]  # what the image's component depends on

    def as_json(self) -> dict[str, Any]:
        return {"image": self.image, "python_packages": len(self.python), "os_packages": self.debs,
                "direct": [{"name": n, "version": v} for n, v in self.direct]}  # fmt: skip


def summarize(document: bytes) -> SbomSummary:
    """A CycloneDX JSON document → counts and the image's direct Python dependencies."""
    try:
        raw = json.loads(document)
        components = raw.get("components") or []
        root = raw["metadata"]["component"]
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError("The SBOM is not a CycloneDX JSON document with a metadata "
                            "component.") from error
    by_ref = {c.get("bom-ref"): c for c in components}
    python = tuple((str(c["name"]), str(c.get("version", ""))) for c in components
                   if str(c.get("purl", "")).startswith("pkg:pypi/"))  # fmt: skip
    debs = sum(1 for c in components if str(c.get("purl", "")).startswith("pkg:deb/"))
    direct_refs = next((d.get("dependsOn") or [] for d in raw.get("dependencies") or []
                        if d.get("ref") == root.get("bom-ref")), [])  # fmt: skip
    direct = tuple(sorted((str(by_ref[r]["name"]), str(by_ref[r].get("version", "")))
                          for r in direct_refs if r in by_ref))  # fmt: skip
    return SbomSummary(str(root.get("name", "")), tuple(sorted(python)), debs, direct)
