"""The service declaration (shipyard.toml): its keys, defaults, and errors naming file and key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.declaration import (
    Declaration,
    check_files,
    key_path,
    load_declaration,
    parse_declaration,
)
from shipyard.errors import DeclarationError

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE_SHAPED = """
name = "backend"
port = 80
[build]
context = "backend"
dockerfile = "backend/Dockerfile"
target = "runtime"
args = { PYTHON_VERSION = "3.11" }
[health]
path = "/api/v1/utils/health-check/"
expect = true
[identity]
source = "revision-label"
[test]
target = "test"
commands = [["pytest", "-q"]]
workdir = "/app"
env = { ENVIRONMENT = "test" }
[[test.services]]
alias = "db"
image = "postgres:16"
port = 5432
env = { POSTGRES_DB = "app", POSTGRES_USER = "app" }
secrets = ["POSTGRES_PASSWORD"]
[locks]
requirements = []
uv = ["backend/uv.lock"]
[scan]
code = ["backend/app"]
[[smoke.checks]]
path = "/api/v1/items/"
status = [200, 401]
"""


def test_no_file_means_the_demo_defaults() -> None:
    declared = Declaration()
    assert (declared.port, declared.health.path, declared.health.status) == (8000, "/health", [200])
    assert declared.health.expect == {"status": "ok"}
    assert declared.identity.source == "health-json"
    assert declared.identity.field == "commit"
    assert declared.locks.requirements == ["app/requirements.txt"]


def test_the_repositorys_own_declaration_is_the_default_one() -> None:
    """app/ is the example of the default declaration: spelling it out changes nothing."""
    assert load_declaration(ROOT) == Declaration()


def test_a_service_shaped_like_the_guides_template_is_expressible() -> None:
    declared = parse_declaration(TEMPLATE_SHAPED)
    assert declared.port == 80
    assert declared.health.expect is True
    assert declared.identity.source == "revision-label"
    assert declared.build.target == "runtime"
    assert declared.test.services[0].alias == "db"
    assert declared.test.services[0].secrets == ["POSTGRES_PASSWORD"]
    assert declared.locks.uv == ["backend/uv.lock"]
    assert declared.smoke.checks[0].status == [200, 401]


@pytest.mark.parametrize(("text", "key", "words"), [
    ("colour = 1", "colour", "is not a key"),
    ("[health]\nmethod = 'GET'", "health.method", "is not a key"),
    ("port = '8000'", "port", "valid integer"),
    ("port = 0", "port", "greater than or equal to 1"),
    ("port = 65536", "port", "less than or equal to 65535"),
    ("[health]\npath = 'health'", "health.path", "must start with /"),
    ("[health]\nstatus = []", "health.status", "at least 1"),
    ("[health]\nstatus = [99]", "health.status[0]", "greater than or equal to 100"),
    ("[identity]\nsource = 'label'", "identity.source", "health-json"),
    ("[[test.services]]\nalias = 'DB_1'\nimage = 'p'\nport = 5432",
     "test.services[0].alias", "not a valid host name"),
    ("[[test.services]]\nalias = '-db'\nimage = 'p'\nport = 5432",
     "test.services[0].alias", "not a valid host name"),
    ("[[test.services]]\nalias = 'db'\nport = 5432", "test.services[0].image", "required"),
    ("[[test.services]]\nalias = 'db'\nimage = 'p'\nport = 5432\nsecrets = ['A-B']",
     "test.services[0].secrets", "not an environment variable name"),
    ("[test]\ncommands = [[]]", "test.commands", "non-empty list"),
    ("[[smoke.checks]]\npath = '/x'\nmethod = 'FETCH'", "smoke.checks[0].method", "GET"),
    ("[load]\npaths = { 'health' = 1 }", "load.paths", "must start with /"),
    ("port = ", "", "not valid TOML"),
])  # fmt: skip
def test_bad_input_names_the_file_and_the_key(text: str, key: str, words: str) -> None:
    with pytest.raises(DeclarationError) as raised:
        parse_declaration(text, "backend/shipyard.toml")
    assert raised.value.key == key
    assert raised.value.source == "backend/shipyard.toml"
    assert str(raised.value).startswith(f"backend/shipyard.toml: {key}".rstrip())
    assert words in str(raised.value)


@pytest.mark.parametrize(("files", "text", "key"), [
    ({"Dockerfile"}, "", "locks.requirements[0]"),  # the default lock is missing
    ({"app/requirements.txt"}, "", "build.dockerfile"),
    ({"Dockerfile", "app/requirements.txt"}, "[locks]\nuv = ['uv.lock']", "locks.uv[0]"),
    ({"Dockerfile", "app/requirements.txt"}, "[build]\ncontext = 'backend'", "build.context"),
    ({"Dockerfile", "app/requirements.txt"}, "[locks]\npoetry = ['../poetry.lock']",
     "locks.poetry[0]"),
    ({"Dockerfile", "app/requirements.txt"}, "[scan]\ncode = ['src']", "scan.code[0]"),
])  # fmt: skip
def test_a_missing_file_is_refused_naming_the_key(
    tmp_path: Path, files: set[str], text: str, key: str
) -> None:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "shipyard.toml").write_text(text)
    with pytest.raises(DeclarationError) as raised:
        load_declaration(tmp_path)
    assert raised.value.key == key


def test_every_file_present_passes(tmp_path: Path) -> None:
    (tmp_path / "backend" / "app").mkdir(parents=True)
    for name in ("backend/Dockerfile", "backend/uv.lock"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    check_files(parse_declaration(TEMPLATE_SHAPED), tmp_path)


@given(st.lists(st.one_of(st.integers(0, 9), st.from_regex(r"[a-z]{1,5}", fullmatch=True)),
                min_size=1, max_size=5))  # fmt: skip
def test_key_paths_index_lists_and_dot_tables(location: list[int | str]) -> None:
    path = key_path(tuple(location))
    for part in location:
        assert (f"[{part}]" if isinstance(part, int) else str(part)) in path
    assert not path.startswith(".")


def ci_main(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "ci" / "main.py"), *args],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_config_prints_the_effective_declaration_with_its_defaults() -> None:
    done = ci_main("config", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == Declaration().model_dump(mode="json")
    text = ci_main("config")
    assert 'health.path = "/health"' in text.stdout.splitlines()
    assert 'load.paths."/version" = 1' in text.stdout.splitlines()
    assert "test.commands = " in text.stdout


@pytest.mark.parametrize(("text", "files", "named"), [
    ("colour = 1", {"Dockerfile", "app/requirements.txt"}, "shipyard.toml: colour:"),
    ("port = '80'", {"Dockerfile", "app/requirements.txt"}, "shipyard.toml: port:"),
    ("port = 70000", {"Dockerfile", "app/requirements.txt"}, "shipyard.toml: port:"),
    ("[health]\npath = 'x'", {"Dockerfile", "app/requirements.txt"}, "shipyard.toml: health.path:"),
    ("", {"app/requirements.txt"}, "shipyard.toml: build.dockerfile:"),
    ("[locks]\nuv = ['uv.lock']", {"Dockerfile", "app/requirements.txt"}, "locks.uv[0]"),
    ("[[test.services]]\nalias = 'my_db'\nimage = 'postgres:16'\nport = 5432",
     {"Dockerfile", "app/requirements.txt"}, "shipyard.toml: test.services[0].alias:"),
])  # fmt: skip
def test_a_run_with_a_bad_declaration_exits_2_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    text: str, files: set[str], named: str,
) -> None:
    """`python ci/main.py run` and `config` refuse it naming the file and the key; no stage
    starts (nothing reaches the engine: there is none here, which would fail with exit 1)."""
    import ci.main

    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "shipyard.toml").write_text(text)
    monkeypatch.setattr(ci.main, "ROOT", tmp_path)
    monkeypatch.delenv("DAGGER_SESSION_PORT", raising=False)
    for argv in (["run", "--ref", "refs/heads/main", "--sha", "0" * 40], ["config"]):
        assert ci.main.main(argv) == 2
        err = capsys.readouterr().err
        assert named in err
        assert "stage" not in err
