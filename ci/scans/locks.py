"""The declaration's lock files as what pip-audit and Safety read: hashed requirements files as
they are; `uv.lock` and `poetry.lock` (both TOML) turned into hashed `name==version` pins in
pure Python, the runtime packages only (no dev group). Pure: text in, text out."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ci.errors import ScanError
from ci.scans.tools import SRC
from shipyard.declaration import Locks

AUDIT_LOCK = "/audit/locked-requirements.txt"  # where the generated pins are mounted
HEADER = (
    "# The runtime packages of {sources}, as hashed pins for pip-audit and Safety\n"
    "# (written by the pipeline's scan stage from the lock files the declaration names).\n"
)


@dataclass(frozen=True, slots=True)
class Pin:
    """One locked package with every hash the lock gives for its files."""

    name: str
    version: str
    hashes: tuple[str, ...]

    def requirement(self) -> str:
        return " \\\n    ".join([f"{self.name}=={self.version}",
                                 *(f"--hash={h}" for h in self.hashes)])  # fmt: skip


@dataclass(frozen=True, slots=True)
class LockPins:
    """A lock's runtime packages: pins, and those that cannot be audited by hash (a git or
    path source has no hash, and pip-audit in hash-checking mode refuses a pin without one)."""

    pins: tuple[Pin, ...]
    unhashed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditInputs:
    """What the dependency scanners read: requirements files in the source (container paths)
    and the generated pins' text (mounted at AUDIT_LOCK), or nothing: audit the project."""

    requirements: tuple[str, ...]
    generated: str | None = None
    unhashed: tuple[str, ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        return (*self.requirements, *((AUDIT_LOCK,) if self.generated is not None else ()))


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def load_toml(text: str, source: str, kind: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScanError(f"{source}: is not a readable {kind} (TOML): {error}") from error


def _packages(data: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    packages = data.get("package")
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        raise ScanError(f"{source}: has no [[package]] tables: is it a lock file?")
    for package in packages:
        if not isinstance(package.get("name"), str):
            raise ScanError(f"{source}: a [[package]] has no name")
    return packages


def uv_pins(text: str, source: str = "uv.lock") -> LockPins:
    """What `uv export --frozen --no-dev` lists: every package the workspace members (the
    locked project) depend on at run time, with their extras, on every platform (markers are
    dropped, so a Windows-only package is audited too)."""
    packages = _packages(load_toml(text, source, "uv.lock"), source)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in packages:
        by_name.setdefault(normalise(package["name"]), []).append(package)
    members = [p for p in packages if _uv_member(p)]
    wanted: list[tuple[str, tuple[str, ...]]] = [
        (normalise(d["name"]), tuple(d.get("extra") or ())) for m in members
        for d in m.get("dependencies") or []
    ]  # fmt: skip
    seen: set[tuple[str, str]] = set()
    reached: list[dict[str, Any]] = []
    while wanted:
        name, extras = wanted.pop()
        for package in by_name.get(name, []):
            for extra in ("", *extras):
                if (id_ := (f"{name}@{package.get('version')}", extra)) in seen:
                    continue
                seen.add(id_)
                if extra == "":
                    reached.append(package)
                    deps = package.get("dependencies") or []
                else:
                    deps = (package.get("optional-dependencies") or {}).get(extra) or []
                wanted += [(normalise(d["name"]), tuple(d.get("extra") or ())) for d in deps]
    return _pin_all((p for p in reached if not _uv_member(p)), _uv_hashes, _uv_source)


def _uv_member(package: Mapping[str, Any]) -> bool:
    source = package.get("source") or {}
    return "virtual" in source or "editable" in source


def _uv_hashes(package: Mapping[str, Any]) -> list[str]:
    files = [package.get("sdist") or {}, *(package.get("wheels") or [])]
    return [str(f["hash"]) for f in files if isinstance(f, dict) and f.get("hash")]


def _uv_source(package: Mapping[str, Any]) -> str:
    return str(next(iter(package.get("source") or {"unknown": ""})))


def poetry_pins(text: str, source: str = "poetry.lock") -> LockPins:
    """The main group's packages of a poetry.lock: Poetry 2 lists each package's `groups`,
    Poetry 1.x before 1.5 its `category`; lock files with neither (Poetry 1.5 to 1.8) cannot
    tell dev packages apart, so all of their packages are audited."""
    data = load_toml(text, source, "poetry.lock")
    packages = _packages(data, source)
    old_files = (data.get("metadata") or {}).get("files") or {}

    def main(package: Mapping[str, Any]) -> bool:
        groups, category = package.get("groups"), package.get("category")
        if isinstance(groups, list):
            return "main" in groups
        return category in (None, "main")

    def hashes(package: Mapping[str, Any]) -> list[str]:
        files = package.get("files") or old_files.get(package["name"]) or []
        return [str(f["hash"]) for f in files if isinstance(f, dict) and f.get("hash")]

    def kind(package: Mapping[str, Any]) -> str:
        return str((package.get("source") or {}).get("type") or "registry")

    return _pin_all(filter(main, packages), hashes, kind)


def _pin_all(
    packages: Iterable[Mapping[str, Any]], hashes: Callable[[Mapping[str, Any]], list[str]],
    kind: Callable[[Mapping[str, Any]], str],
) -> LockPins:  # fmt: skip
    pins: dict[tuple[str, str], Pin] = {}
    unhashed: set[str] = set()
    for package in packages:
        name, version = normalise(package["name"]), str(package.get("version") or "")
        found = sorted(set(hashes(package)))
        if not found or not version:
            unhashed.add(f"{name} {version or '(no version)'} ({kind(package)} source)".strip())
        else:
            pins[name, version] = Pin(name, version, tuple(found))
    return LockPins(tuple(pins[key] for key in sorted(pins)), tuple(sorted(unhashed)))


def requirements_text(locks: Mapping[str, LockPins]) -> str:
    """One hashed requirements file for every lock (source path → its pins), deduplicated."""
    pins: dict[tuple[str, str], Pin] = {}
    for lock in locks.values():
        for pin in lock.pins:
            known = pins.get((pin.name, pin.version))
            merged = sorted({*pin.hashes, *(known.hashes if known else ())})
            pins[pin.name, pin.version] = Pin(pin.name, pin.version, tuple(merged))
    lines = [HEADER.format(sources=", ".join(locks))]
    lines += [f"# not audited, no hash: {entry} in {source}\n"
              for source, lock in locks.items() for entry in lock.unhashed]  # fmt: skip
    lines += [pins[key].requirement() + "\n" for key in sorted(pins)]
    return "".join(lines)


def audit_inputs(locks: Locks, read: Callable[[str], str]) -> AuditInputs:
    """What the declaration's `[locks]` give the scanners; `read(path)` is a file's text by
    its path relative to the repository root."""
    made = {path: uv_pins(read(path), path) for path in locks.uv}
    made |= {path: poetry_pins(read(path), path) for path in locks.poetry}
    requirements = tuple(f"{SRC}/{path}" for path in locks.requirements)
    if not made:
        return AuditInputs(requirements)
    unhashed = tuple(f"{entry} in {path}" for path, lock in made.items() for entry in lock.unhashed)
    return AuditInputs(requirements, requirements_text(made), unhashed)
