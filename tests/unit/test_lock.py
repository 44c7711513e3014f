"""The service's lock: hashed (the image installs --require-hashes), complete, and in step
with its hash-free twin used as pip constraints, with app/requirements.in and pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import requires, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
LOCK, CONSTRAINTS = APP / "requirements.txt", APP / "constraints.txt"
INPUT = APP / "requirements.in"


def requirement_lines(path: Path) -> list[str]:
    """Requirement lines with continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    lines = (line.split("#", 1)[0].strip() for line in joined.splitlines())
    return [line for line in lines if line]


def pins(path: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (pinned version, sha256 hashes) for every line of a pip-compile output."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in requirement_lines(path):
        requirement = Requirement(line.split()[0])
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{path.name}: {line} is not pinned with =="
        hashes = tuple(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
        found[canonicalize_name(requirement.name)] = (spec.version, hashes)
    return found


def header_command(path: Path) -> str:
    """The pip-compile command recorded in the file's header."""
    (command,) = re.findall(r"^#\s+(pip-compile .+)$", path.read_text(), flags=re.MULTILINE)
    return str(command)


def test_every_pin_of_the_lock_has_hashes() -> None:
    locked = pins(LOCK)
    assert locked
    for name, (_, hashes) in locked.items():
        assert hashes, f"{name} has no --hash in {LOCK.name}: regenerate it (docs/pipeline.md)"


def test_the_constraints_file_is_the_lock_without_hashes() -> None:
    locked, constraints = pins(LOCK), pins(CONSTRAINTS)
    assert {n: v for n, (v, _) in constraints.items()} == {n: v for n, (v, _) in locked.items()}
    assert all(not hashes for _, hashes in constraints.values())
    assert "--hash" not in CONSTRAINTS.read_text()


def test_both_files_are_generated_by_the_commands_the_docs_show() -> None:
    page = (ROOT / "docs" / "pipeline.md").read_text(encoding="utf-8")
    for path in (LOCK, CONSTRAINTS):
        assert header_command(path) in page, f"{path.name}: docs/pipeline.md shows another one"
    assert "--generate-hashes" in header_command(LOCK)


def test_the_dockerfile_installs_the_lock_in_hash_checking_mode() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    (install,) = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert "--require-hashes" in install
    assert "-r /tmp/requirements.txt" in install


def test_the_lock_satisfies_its_input_and_covers_pyprojects_service_dependencies() -> None:
    locked = pins(LOCK)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {canonicalize_name(Requirement(d).name): Requirement(d)
                for d in project["project"]["dependencies"]}  # fmt: skip
    for line in requirement_lines(INPUT):
        wanted = Requirement(line)
        name = canonicalize_name(wanted.name)
        assert wanted.specifier.contains(locked[name][0]), f"{name} {locked[name][0]} vs {line}"
        assert name in declared, f"{name} is in {INPUT.name} but not in pyproject.toml"
        assert declared[name].specifier.contains(locked[name][0]), f"pyproject's {name} bound"


def test_image_lock_is_complete() -> None:
    """Every runtime dependency of the service is pinned, at the version the venv runs."""
    locked = {name: v for name, (v, _) in pins(LOCK).items()}
    todo = [canonicalize_name(Requirement(line).name) for line in requirement_lines(INPUT)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        assert name in locked, f"{name} is needed by the service but missing from the lock"
        assert locked[name] == version(name), f"{name}: lock and installed versions differ"
        for text in requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
