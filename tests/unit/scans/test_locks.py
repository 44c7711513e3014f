"""Lock files as the scanners read them: uv.lock and poetry.lock turned into hashed pins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ci.errors import ScanError
from ci.scans.locks import (
    AUDIT_LOCK,
    LockPins,
    Pin,
    audit_inputs,
    poetry_pins,
    requirements_text,
    uv_pins,
)
from shipyard.declaration import Locks

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_LOCK = ROOT / "tests/fixtures/template-service/backend/uv.lock"
RECORDED_EXPORT = ROOT / "tests/fixtures/locks/template-service-uv-export.txt"


def exported(text: str) -> set[tuple[str, str, frozenset[str]]]:
    """(name, version, hashes) of each requirement in `uv export` output (markers dropped)."""
    found = set()
    for line in text.replace("\\\n", " ").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split(";")[0].split()[0].split("==")
            found.add((name, version, frozenset(re.findall(r"--hash=(\S+)", line))))
    return found


def pinned(lock: LockPins) -> set[tuple[str, str, frozenset[str]]]:
    return {(pin.name, pin.version, frozenset(pin.hashes)) for pin in lock.pins}


def test_the_template_services_uv_lock_gives_what_uv_export_gives() -> None:
    lock = uv_pins(TEMPLATE_LOCK.read_text(), "backend/uv.lock")
    assert pinned(lock) == exported(RECORDED_EXPORT.read_text())
    assert lock.unhashed == ()
    names = {pin.name for pin in lock.pins}
    assert {"fastapi", "psycopg", "psycopg-binary", "uvicorn"} <= names  # extras followed
    assert not {"pytest", "ruff", "httpx", "template-backend"} & names  # no dev, no project


UV_LOCK = """
version = 1
requires-python = ">=3.11"

[[package]]
name = "shop"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "Flask", extra = ["async"] },
    { name = "colorama", marker = "sys_platform == 'win32'" },
]

[package.optional-dependencies]
pdf = [{ name = "reportlab" }]

[package.dev-dependencies]
dev = [{ name = "pytest" }]

[[package]]
name = "flask"
version = "3.1.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "werkzeug" }]
sdist = { url = "https://example.invalid/flask-3.1.0.tar.gz", hash = "sha256:bb" }
wheels = [{ url = "https://example.invalid/flask-3.1.0-py3-none-any.whl", hash = "sha256:aa" }]

[package.optional-dependencies]
async = [{ name = "asgiref" }]
dotenv = [{ name = "python-dotenv" }]

[[package]]
name = "werkzeug"
version = "3.1.3"
source = { git = "https://example.invalid/werkzeug?rev=abc#abc" }

[[package]]
name = "asgiref"
version = "3.8.1"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://example.invalid/asgiref.whl", hash = "sha256:cc" }]

[[package]]
name = "colorama"
version = "0.4.6"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://example.invalid/colorama.whl", hash = "sha256:dd" }]

[[package]]
name = "python-dotenv"
version = "1.0.1"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://example.invalid/dotenv.whl", hash = "sha256:ee" }]

[[package]]
name = "reportlab"
version = "4.2.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://example.invalid/reportlab.whl", hash = "sha256:ff" }]

[[package]]
name = "pytest"
version = "8.3.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://example.invalid/pytest.whl", hash = "sha256:99" }]
"""


def test_uv_pins_follow_runtime_dependencies_and_requested_extras_only() -> None:
    lock = uv_pins(UV_LOCK)
    assert lock.pins == (
        Pin("asgiref", "3.8.1", ("sha256:cc",)),  # flask[async]: requested
        Pin("colorama", "0.4.6", ("sha256:dd",)),  # Windows only: audited all the same
        Pin("flask", "3.1.0", ("sha256:aa", "sha256:bb")),  # name normalised, sdist + wheel
    )  # not python-dotenv (an extra nobody asked for), reportlab (the project's extra), pytest
    assert lock.unhashed == ("werkzeug 3.1.3 (git source)",)


POETRY_2 = """
[[package]]
name = "Django"
version = "5.1.2"
optional = false
python-versions = ">=3.10"
groups = ["main"]
files = [
    {file = "Django-5.1.2-py3-none-any.whl", hash = "sha256:11"},
    {file = "Django-5.1.2.tar.gz", hash = "sha256:22"},
]

[[package]]
name = "pytest"
version = "8.3.3"
groups = ["dev"]
files = [{file = "pytest-8.3.3-py3-none-any.whl", hash = "sha256:33"}]

[[package]]
name = "mylib"
version = "0.2.0"
groups = ["main", "dev"]
files = []

[package.source]
type = "directory"
url = "../mylib"

[metadata]
lock-version = "2.1"
"""

POETRY_1_1 = """
[[package]]
name = "requests"
version = "2.28.1"
category = "main"
optional = false

[[package]]
name = "black"
version = "22.10.0"
category = "dev"

[metadata]
lock-version = "1.1"

[metadata.files]
requests = [
    {file = "requests-2.28.1-py3-none-any.whl", hash = "sha256:44"},
]
black = [
    {file = "black-22.10.0.tar.gz", hash = "sha256:55"},
]
"""

POETRY_2_0 = """
[[package]]
name = "attrs"
version = "24.2.0"
files = [{file = "attrs-24.2.0-py3-none-any.whl", hash = "sha256:66"}]

[[package]]
name = "pytest"
version = "8.3.3"
files = [{file = "pytest-8.3.3-py3-none-any.whl", hash = "sha256:77"}]

[metadata]
lock-version = "2.0"
"""


@pytest.mark.parametrize(("text", "pins", "unhashed"), [
    (POETRY_2, [("django", "5.1.2", ("sha256:11", "sha256:22"))],
     ("mylib 0.2.0 (directory source)",)),
    (POETRY_1_1, [("requests", "2.28.1", ("sha256:44",))], ()),
    # Poetry 1.5-1.8 record no group: every package is audited, dev ones too
    (POETRY_2_0, [("attrs", "24.2.0", ("sha256:66",)), ("pytest", "8.3.3", ("sha256:77",))], ()),
], ids=["poetry-2 groups", "poetry-1.1 category", "lock 2.0 without groups"])  # fmt: skip
def test_poetry_pins_keep_the_main_group(
    text: str, pins: list[tuple[str, str, tuple[str, ...]]], unhashed: tuple[str, ...]
) -> None:
    lock = poetry_pins(text)
    assert [(p.name, p.version, p.hashes) for p in lock.pins] == pins
    assert lock.unhashed == unhashed


@pytest.mark.parametrize(("text", "problem"), [
    ("not = [toml", "backend/uv.lock: is not a readable uv.lock (TOML)"),
    ("version = 1\n", "backend/uv.lock: has no [[package]] tables"),
    ("[[package]]\nversion = '1'\n", "backend/uv.lock: a [[package]] has no name"),
])  # fmt: skip
def test_an_unreadable_lock_is_a_scan_error_naming_it(text: str, problem: str) -> None:
    with pytest.raises(ScanError, match=re.escape(problem)):
        uv_pins(text, "backend/uv.lock")


def test_requirements_text_is_one_hashed_file_deduplicated_across_locks() -> None:
    one = LockPins((Pin("anyio", "4.6.0", ("sha256:a",)), Pin("idna", "3.10", ("sha256:i",))))
    two = LockPins((Pin("anyio", "4.6.0", ("sha256:b",)),), ("vendored 1.0 (path source)",))
    text = requirements_text({"a/uv.lock": one, "b/poetry.lock": two})
    assert text.splitlines()[0] == (
        "# The runtime packages of a/uv.lock, b/poetry.lock, as hashed pins for pip-audit and "
        "Safety")
    assert "# not audited, no hash: vendored 1.0 (path source) in b/poetry.lock" in text
    assert text.endswith(
        "anyio==4.6.0 \\\n    --hash=sha256:a \\\n    --hash=sha256:b\n"
        "idna==3.10 \\\n    --hash=sha256:i\n")
    assert exported(text) == {("anyio", "4.6.0", frozenset({"sha256:a", "sha256:b"})),
                              ("idna", "3.10", frozenset({"sha256:i"}))}


def test_audit_inputs_from_the_declared_locks() -> None:
    files = {"backend/uv.lock": UV_LOCK, "svc/poetry.lock": POETRY_1_1}
    demo = audit_inputs(Locks(), files.__getitem__)  # the default: the demo's hashed lock
    assert demo.paths == ("/src/app/requirements.txt",)
    assert demo.generated is None
    both = audit_inputs(Locks(requirements=["app/requirements.txt"], uv=["backend/uv.lock"],
                              poetry=["svc/poetry.lock"]), files.__getitem__)
    assert both.paths == ("/src/app/requirements.txt", AUDIT_LOCK)
    assert both.generated is not None
    assert "requests==2.28.1" in both.generated
    assert "flask==3.1.0" in both.generated
    assert both.unhashed == ("werkzeug 3.1.3 (git source) in backend/uv.lock",)
    nothing = audit_inputs(Locks(requirements=[]), files.__getitem__)
    assert nothing.paths == ()  # the scanners audit the installed project instead
