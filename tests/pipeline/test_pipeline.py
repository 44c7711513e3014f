"""The unchanged pipeline against the schema-validating fake engine, for every kind of plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ci.main import main
from ci.stages import LINT_COMMANDS, TEST_COMMAND
from tests.pipeline.fake_calls import Call
from tests.pipeline.fake_engine import FakeEngine

ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"
IMAGE = "127.0.0.1:5000/acme/shop"
TOKEN = "ghp_fakeTokenForTests1234567890"
SAFETY_KEY = "safety-key-for-tests-5678"
DIGEST = "sha256:" + "d" * 64


@pytest.fixture(scope="session")
def clean_reports() -> dict[str, str]:
    """What each scanner writes on a clean tree: real bandit output, minimal others."""
    bandit = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", str(ROOT / "tests/fixtures/scans/clean"),
         "-f", "json", "-q"], capture_output=True, text=True, check=False,
    )  # fmt: skip
    return {
        "/reports/raw/bandit.json": bandit.stdout,
        "/reports/raw/pip-audit.json": json.dumps(
            {"dependencies": [{"name": "fastapi", "version": "0.165.0", "vulns": []}],
             "fixes": []}
        ),
        "/reports/raw/gitleaks.json": "[]",
        "/reports/raw/safety.json": (ROOT / "tests/fixtures/scans/safety-report.json").read_text(),
    }


@pytest.fixture
def engine(
    fake_engine: FakeEngine,
    clean_reports: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> FakeEngine:
    """The fake engine, answering like a healthy run; the environment of a CI job."""
    for name in ("GITHUB_ACTIONS", "GITHUB_REF", "GITHUB_SHA", "GITHUB_EVENT_NAME",
                 "GITHUB_STEP_SUMMARY", "SAFETY_API_KEY", "SLACK_WEBHOOK_URL",
                 "REGISTRY_PASSWORD", "GITHUB_TOKEN", "STAGING_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REGISTRY", "127.0.0.1:5000")
    monkeypatch.setenv("IMAGE_REPOSITORY", "acme/shop")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("CI_REPORTS_DIR", str(tmp_path / "reports"))
    fake_engine.respond("Container.publish", lambda call: f"{call.args['address']}@{DIGEST}")
    fake_engine.respond("File.contents", lambda call: report_for(call, clean_reports))
    return fake_engine


def report_for(call: Call, reports: dict[str, str]) -> str:
    file_call = call.find("file")
    return reports.get(str(file_call.args["path"]) if file_call else "", "")


def exit_1_when_running(engine: FakeEngine, program: str) -> None:
    """Containers whose chain ran `program` report exit code 1 (expect=ANY execs)."""
    engine.respond("Container.exitCode", lambda call: 1 if any(
        program in call_.args["args"] for call_ in call.find_all("withExec")) else 0)


def published(engine: FakeEngine) -> list[str]:
    return [str(call.args["address"]) for call in engine.calls("publish")]


def exec_args(engine: FakeEngine) -> list[list[str]]:
    return [list(call.args["args"]) for call in engine.calls("withExec")]


def test_develop_builds_tests_scans_and_publishes_latest(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--ref", "refs/heads/develop", "--sha", SHA]) == 0
    assert published(engine) == [f"{IMAGE}:latest", f"{IMAGE}:sha-0123456789ab"]
    build = engine.calls("dockerBuild")[0]
    args = {arg["name"]: arg["value"] for arg in build.args["buildArgs"]}
    assert args["COMMIT"] == SHA
    assert args["VERSION"] == "0.0.0-latest+0123456789ab"
    assert set(args) >= {"CREATED", "SOURCE"}
    assert build.args.get("dockerfile", "Dockerfile") == "Dockerfile"  # the default is omitted
    host_dirs = engine.calls("directory")
    assert any(".venv" in call.args.get("exclude", []) and call.args.get("gitignore")
               for call in host_dirs)
    commands = exec_args(engine)
    assert list(TEST_COMMAND) in commands
    assert all(list(command) in commands for command in LINT_COMMANDS)
    out = capsys.readouterr()
    assert f"digest   {DIGEST}" in out.out
    assert TOKEN not in out.out + out.err
    assert (tmp_path / "reports" / "scans" / "findings.json").exists()
    assert {p.name for p in (tmp_path / "reports" / "sarif").iterdir()} == {
        "bandit.sarif", "pip-audit.sarif", "gitleaks.sarif",
    }
    assert "Safety" in out.err  # skipped without a key, and the summary says why


def test_registry_token_travels_only_as_a_dagger_secret(engine: FakeEngine) -> None:
    assert main(["--ref", "refs/heads/develop", "--sha", SHA, "publish"]) == 0
    for call in engine.calls("publish"):
        auth = call.find("withRegistryAuth")
        assert auth is not None
        assert auth.args["username"] == "octocat"
        secret = auth.args["secret"].last
        assert (secret.field, secret.args["name"]) == ("setSecret", "registry-password")
    assert engine.secrets() == {"registry-password": TOKEN}
    for call in engine.calls():
        if call.field != "setSecret":
            assert TOKEN not in json.dumps(call.args, default=str)


def test_safety_runs_with_its_key_as_a_secret_variable(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAFETY_API_KEY", SAFETY_KEY)
    # the Safety fixture report holds a fixable vulnerability: the gate must stop on it
    assert main(["--ref", "refs/pull/7/merge", "--sha", SHA, "--event", "pull_request",
                 "scan"]) == 1
    variables = engine.calls("withSecretVariable")  # one per query that re-sends the chain
    assert variables
    assert {call.args["name"] for call in variables} == {"SAFETY_API_KEY"}
    assert {call.args["secret"].last.args["name"] for call in variables} == {"safety-api-key"}
    assert all(any("safety" in str(e.args["args"]) for e in call.find_all("withExec"))
               for call in variables)
    assert ["safety", "scan", "--target", "/safety-target", "--save-as", "json",
            "/reports/raw/safety.json"] in exec_args(engine)
    out = capsys.readouterr()
    assert "| safety | ok |" in out.err
    assert "the security gate failed: 1 blocking finding(s)" in out.err
    assert SAFETY_KEY not in out.out + out.err


def test_main_publishes_staging_then_deploys_the_pinned_digest(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--ref", "refs/heads/main", "--sha", SHA]) == 1
    assert published(engine) == [f"{IMAGE}:staging", f"{IMAGE}:sha-0123456789ab"]
    err = capsys.readouterr().err
    assert "deploy to staging failed: STAGING_HOST: is not set" in err


def test_pull_request_publishes_nothing(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--ref", "refs/pull/7/merge", "--sha", SHA, "--event", "pull_request"]) == 0
    assert published(engine) == []
    assert engine.calls("withRegistryAuth") == []
    assert engine.calls("dockerBuild")
    assert not [line for line in capsys.readouterr().out.splitlines()
                if line.startswith("publish")]


def test_a_stage_outside_the_plan_is_refused(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--ref", "refs/pull/7/merge", "--sha", SHA, "--event", "pull_request",
                 "publish"]) == 2
    assert "'publish' is not part of the plan" in capsys.readouterr().err
    assert engine.queries == []


@pytest.mark.parametrize(("ref", "tag"), [("refs/tags/v1.2.3", "v1.2.3"),
                                          ("refs/tags/v1.3.0-rc.1", "v1.3.0-rc.1")])
def test_release_tags_promote_without_touching_the_engine(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    ref: str, tag: str,
) -> None:
    monkeypatch.setenv("REGISTRY", "127.0.0.1:9")  # nothing listens: promotion must say so
    assert main(["--ref", ref, "--sha", SHA]) == 1
    assert engine.queries == []  # no build, no layer transfer through the engine
    err = capsys.readouterr().err
    assert "promote" in err
    assert "Is the registry reachable?" in err


def test_test_and_scan_run_concurrently(engine: FakeEngine) -> None:
    engine.delay("Container.exitCode", 0.3)
    assert main(["--ref", "refs/heads/feature/x", "--sha", SHA, "test", "scan"]) == 0
    pytest_run = [c for c in engine.leaves("Container.exitCode")
                  if any("pytest" in e.args["args"] for e in c.find_all("withExec"))]
    bandit_run = [c for c in engine.leaves("Container.exitCode")
                  if any("bandit" in str(e.args["args"]) for e in c.find_all("withExec"))]
    assert pytest_run
    assert bandit_run
    assert pytest_run[0].overlaps(bandit_run[0])


def test_failing_lint_names_stage_command_exit_code_and_stderr(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.fail_exec(lambda args: args[:1] == ["ruff"], exit_code=1,
                     stderr="app/main.py:1:1: F401 unused import")
    assert main(["--ref", "refs/heads/develop", "--sha", SHA]) == 1
    err = capsys.readouterr().err
    assert "stage 'test' failed: `ruff check .` exited 1" in err
    assert "F401 unused import" in err
    assert published(engine) == []  # nothing published after a failed check


def test_failing_pytest_still_exports_its_report(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_1_when_running(engine, "pytest")
    assert main(["--ref", "refs/heads/develop", "--sha", SHA, "test"]) == 1
    exports = [str(c.args["path"]) for c in engine.calls("export")]
    assert any(path.endswith("reports/tests") for path in exports)
    assert "stage 'test' failed: `pytest -m not rig and not dagger" in capsys.readouterr().err


def test_a_crashed_scanner_fails_the_gate(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_1_when_running(engine, "gitleaks")
    assert main(["--ref", "refs/heads/develop", "--sha", SHA, "scan"]) == 1
    assert "tool error(s) in gitleaks" in capsys.readouterr().err


def test_an_engine_error_inside_a_stage_is_that_stage_failing(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    def unresolvable(call: Call) -> int:
        raise RuntimeError("failed to resolve source metadata for python:3.12-slim-bookworm")

    engine.respond("Container.exitCode", unresolvable)
    assert main(["--ref", "refs/heads/develop", "--sha", SHA, "test"]) == 1
    err = capsys.readouterr().err
    assert "stage 'test': failed to resolve source metadata" in err
    assert "No Dagger engine" not in err


def test_interactive_opens_a_terminal_in_the_failed_stage(engine: FakeEngine) -> None:
    engine.fail_exec(lambda args: args[:1] == ["mypy"], exit_code=1, stderr="error: x")
    assert main(["--ref", "refs/heads/develop", "--sha", SHA, "--interactive", "test"]) == 1
    [terminal] = engine.calls("terminal")
    assert terminal.args["cmd"] == ["sh"]
    assert terminal.find("from") is not None


def test_no_engine_is_one_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dagger.provisioning._download import Downloader

    for name in ("DAGGER_SESSION_PORT", "DAGGER_SESSION_TOKEN", "_EXPERIMENTAL_DAGGER_CLI_BIN",
                 "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "GITHUB_REF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CI_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setattr(Downloader, "CLI_BASE_URL", "http://127.0.0.1:9")
    assert main(["--ref", "refs/heads/develop", "--sha", SHA, "build"]) == 1
    err = capsys.readouterr().err
    assert "No Dagger engine could be reached" in err
    assert "dagger run python ci/main.py" in err
