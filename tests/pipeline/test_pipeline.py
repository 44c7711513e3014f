"""The unchanged pipeline against the schema-validating fake engine, for every kind of plan."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from ci.main import main
from ci.registry import RegistryClient, promote
from ci.stages.test import LINT_COMMANDS, TEST_COMMAND
from loadtest.config import SETTINGS
from tests.pipeline.fake_calls import Call
from tests.pipeline.fake_engine import FakeEngine
from tests.rig.images import APP_REPOSITORY, BuildAppImage, fake_commit
from tests.unit.deploy.test_config import KEY as KEY_TEXT
from tests.unit.loadtest_targets import stub_server

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
    fake_engine.respond("Container.stdout", lambda call: healthy_image_output(call, SHA))
    return fake_engine


@pytest.fixture
def publishing(engine: FakeEngine, registry_address: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fake engine, with the rig's real registry to ask whether a sha- tag exists."""
    monkeypatch.setenv("REGISTRY", registry_address)
    return f"{registry_address}/acme/shop"


def healthy_image_output(call: Call, commit: str) -> str:
    """What a good image prints: a non-root uid, and the probe's answer: /health naming its
    commit."""
    execs = call.find_all("withExec")
    last = list(execs[-1].args["args"]) if execs else []
    if last == ["id", "-u"]:
        return "10001\n"
    if last[:2] == ["python3", "-c"] and any(arg.endswith(":8000/health") for arg in last):
        body = json.dumps({"status": "ok", "version": "0.0.0", "commit": commit})
        return json.dumps({"status": 200, "body": body}) + "\n"
    return ""


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


@pytest.mark.rig
def test_develop_builds_tests_scans_and_publishes_latest(
    engine: FakeEngine, publishing: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--ref", "refs/heads/develop", "--sha", SHA]) == 0
    # the immutable tag first: a re-run finds it and never overwrites it
    assert published(engine) == [f"{publishing}:sha-0123456789ab", f"{publishing}:latest"]
    build = engine.calls("dockerBuild")[0]
    args = {arg["name"]: arg["value"] for arg in build.args["buildArgs"]}
    assert args["COMMIT"] == SHA
    assert args["VERSION"] == "0.0.0-latest+0123456789ab"
    assert args["BASE_IMAGE"] == "python:3.12-slim-bookworm"
    # not in this checkout, so no commit time: a fixed epoch, never the wall clock
    assert (args["CREATED"], args["SOURCE_DATE_EPOCH"]) == ("1970-01-01T00:00:00Z", "0")
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


@pytest.mark.rig
def test_registry_token_travels_only_as_a_dagger_secret(engine: FakeEngine, publishing: str) -> (
    None
):
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
    assert "the security gate failed (1 blocking finding(s))" in out.err
    assert SAFETY_KEY not in out.out + out.err


@pytest.mark.rig
def test_main_publishes_staging_then_deploys_the_pinned_digest(
    engine: FakeEngine, publishing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--ref", "refs/heads/main", "--sha", SHA]) == 1
    assert published(engine) == [f"{publishing}:sha-0123456789ab", f"{publishing}:staging"]
    err = capsys.readouterr().err
    assert "deploy to staging failed: STAGING_HOST: is not set" in err


@pytest.mark.rig
def test_the_deploy_stage_deploys_to_every_host_and_names_the_one_it_could_not_reach(
    engine: FakeEngine, publishing: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With STAGING_HOSTS the stage runs the fleet release: a host without SSH (nothing
    listens on 127.0.0.1:9) fails the stage before anything changes, naming that host."""
    monkeypatch.setenv("STAGING_HOSTS", "127.0.0.1:9, 127.0.0.1:19")
    monkeypatch.setenv("STAGING_USERNAME", "deployer")
    monkeypatch.setenv("STAGING_SSH_KEY", KEY_TEXT)
    monkeypatch.setenv("STAGING_KNOWN_HOSTS", "[127.0.0.1]:9 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")
    monkeypatch.setenv("STAGING_APP_PATH", "/srv/app")
    assert main(["--ref", "refs/heads/main", "--sha", SHA]) == 1
    err = capsys.readouterr().err
    assert "deploy to staging failed on some host" in err
    assert "staging 127.0.0.1:9: unreachable" in err
    assert "staging 127.0.0.1:19: unreachable" in err
    assert KEY_TEXT.splitlines()[1] not in err


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
    assert main(["--ref", "refs/heads/feature/x", "--sha", SHA, "smoke", "test", "scan"]) == 0
    leaves = engine.leaves("Container.exitCode")
    test_run = [c for c in leaves if c.find("withFile")]  # only the test stage copies files
    bandit_run = [c for c in leaves
                  if any("bandit" in str(e.args["args"]) for e in c.find_all("withExec"))]
    smoke_run = [c for c in leaves if c.find("withServiceBinding") or
                 any(e.args["args"] == ["id", "-u"] for e in c.find_all("withExec"))]
    assert test_run
    assert bandit_run
    assert smoke_run

    def span(calls: list[Call]) -> tuple[float, float]:
        return min(c.started for c in calls), max(c.ended for c in calls)

    # each stage awaits its steps one by one (0.3 s each here): their spans must overlap
    (test_start, test_end), (scan_start, scan_end) = span(test_run), span(bandit_run)
    smoke_start, smoke_end = span(smoke_run)
    assert test_start < scan_end
    assert scan_start < test_end
    assert test_start < smoke_end
    assert smoke_start < test_end


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
    out = capsys.readouterr().out
    assert "tool error(s):\n  gitleaks: `gitleaks git /src --redact" in out
    assert "--exit-code 3` exited 1" in out


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


def test_a_scanner_that_cannot_install_is_the_scan_verdict_and_tests_still_run(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.fail_exec(lambda args: args[:2] == ["pip", "install"] and "bandit" in args[-1],
                     exit_code=1, stderr="ERROR: No matching distribution found for bandit")
    assert main(["--ref", "refs/pull/7/merge", "--sha", SHA, "--event", "pull_request"]) == 1
    out, err = capsys.readouterr()
    stages = ("build", "smoke", "test", "scan", "publish")
    table = {line.split()[0]: line.split()[1] for line in out.splitlines()
             if line.split()[:1] and line.split()[0] in stages}
    assert table == {"build": "passed", "smoke": "passed", "test": "passed", "scan": "FAILED"}
    assert "bandit: `pip install --disable-pip-version-check bandit[sarif]==1.9.4` exited 1" in out
    assert "No matching distribution found for bandit" in out
    assert "Traceback" not in err + out


def test_an_image_that_cannot_be_pulled_is_that_scanners_error(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse_gitleaks(call: Call) -> int:
        source = call.find("from")
        if source is not None and "gitleaks" in str(source.args["address"]):
            raise RuntimeError("pull access denied for zricethezav/gitleaks")
        return 0

    engine.respond("Container.exitCode", refuse_gitleaks)
    assert main(["--ref", "refs/pull/7/merge", "--sha", SHA, "--event", "pull_request",
                 "test", "scan"]) == 1
    out, err = capsys.readouterr()
    assert "gitleaks: the engine refused:" in out
    assert "pull access denied" in out
    assert "test     passed" in out  # the other stage was not cancelled
    assert "Traceback" not in err


def test_safety_uses_the_source_only_after_mounting_it(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFETY_API_KEY", SAFETY_KEY)
    main(["--ref", "refs/pull/7/merge", "--sha", SHA, "--event", "pull_request", "scan"])
    safety_chains = [c.chain for c in engine.leaves("Container.exitCode")
                     if any("safety" in str(e.args["args"]) for e in c.find_all("withExec"))]
    assert safety_chains
    for chain in safety_chains:
        mounted = False
        for call in chain:
            mounted = mounted or (call.field == "withDirectory" and call.args["path"] == "/src")
            if call.field == "withExec" and any(a.startswith("/src") for a in call.args["args"]):
                assert mounted, f"{call.args['args']} runs before /src is mounted"


def test_interactive_opens_the_failed_tools_container_before_its_command(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.fail_exec(lambda args: args[:1] == ["bandit"], exit_code=2, stderr="bandit: crash")
    assert main(["--ref", "refs/heads/develop", "--sha", SHA, "--interactive", "scan"]) == 1
    [terminal] = engine.calls("terminal")
    execs = [list(e.args["args"]) for e in terminal.find_all("withExec")]
    assert ["pip", "install", "--disable-pip-version-check", "bandit[sarif]==1.9.4"] in execs
    assert not any(args[:1] in (["bandit"], ["gitleaks"]) for args in execs)
    assert terminal.find("withDirectory") is not None  # the source is in place
    err = capsys.readouterr().err
    assert "bandit's container" in err
    assert "bandit -r app ci deploy -f json" in err


def test_interactive_test_failure_opens_after_the_steps_before_it(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.fail_exec(lambda args: args[:1] == ["mypy"], exit_code=1, stderr="error: x")
    assert main(["--ref", "refs/heads/develop", "--sha", SHA, "--interactive", "test"]) == 1
    [terminal] = engine.calls("terminal")
    execs = [list(e.args["args"]) for e in terminal.find_all("withExec")]
    assert ["ruff", "check", "."] in execs
    assert ["mypy"] not in execs
    assert "re-run it with:\n  mypy" in capsys.readouterr().err


@pytest.mark.parametrize(("uid", "commit", "problem"), [
    ("0\n", SHA, "runs as uid 0 (root)"),
    ("10001\n", "f" * 40, "reports commit 'ffff"),
])
def test_smoke_stops_an_image_that_is_root_or_not_this_commit(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], uid: str, commit: str, problem: str
) -> None:
    def answer(call: Call) -> str:
        out = healthy_image_output(call, commit)
        return uid if out == "10001\n" else out

    engine.respond("Container.stdout", answer)
    assert main(["--ref", "refs/heads/develop", "--sha", SHA]) == 1
    out = capsys.readouterr().out
    assert problem in out
    assert published(engine) == []
    [binding] = {c.args["alias"] for c in engine.calls("withServiceBinding")}
    assert binding == "api"  # the declared service name (shipyard.toml)


def test_dependencies_install_before_the_source_is_copied(engine: FakeEngine) -> None:
    assert main(["--ref", "refs/heads/feature/x", "--sha", SHA, "test"]) == 0
    [chain] = {c.chain for c in engine.leaves("Container.exitCode")
               if any("pytest" in e.args["args"] for e in c.find_all("withExec"))}
    fields = [(call.field, call.args.get("args", call.args.get("path"))) for call in chain]
    install = next(i for i, (f, a) in enumerate(fields) if f == "withExec" and "-r" in a)
    source = next(i for i, (f, a) in enumerate(fields) if (f, a) == ("withDirectory", "/src"))
    assert install < source
    copied = [a for f, a in fields[:install] if f == "withFile"]
    assert copied == ["/deps/pyproject.toml", "/deps/constraints.txt"]
    assert fields[install][1][3:5] == ["-c", "/deps/constraints.txt"]  # the service's lock
    assert [call.field for call in chain[:2]] == ["container", "from"]
    assert chain[1].args["address"] == "python:3.12-slim-bookworm"


def test_scanners_and_tests_share_the_base_image_and_a_pip_cache(engine: FakeEngine) -> None:
    assert main(["--ref", "refs/heads/feature/x", "--sha", SHA, "test", "scan"]) == 0
    froms = {str(c.args["address"]) for c in engine.calls("from")}
    assert froms == {"python:3.12-slim-bookworm", "zricethezav/gitleaks:v8.28.0"}
    caches = [c for c in engine.calls("withMountedCache")]
    assert {c.args["path"] for c in caches} == {"/root/.cache/pip"}
    assert all(call.args["cache"].path() == "cacheVolume" for call in caches)


@pytest.mark.parametrize("flag", ["--ref", "--sha", "--event"])
def test_an_explicitly_empty_flag_is_refused(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    assert main(["plan", flag, ""]) == 2
    assert main([flag, "", "build"]) == 2
    assert f"{flag} is empty" in capsys.readouterr().err
    assert engine.queries == []


@pytest.fixture
def rig_repository(
    engine: FakeEngine, registry_address: str, monkeypatch: pytest.MonkeyPatch
) -> RegistryClient:
    """The pipeline pointed at the rig registry's app repository, and a client for it."""
    monkeypatch.setenv("REGISTRY", registry_address)
    monkeypatch.setenv("IMAGE_REPOSITORY", APP_REPOSITORY)
    return RegistryClient(registry_address, APP_REPOSITORY)


async def publish_alone(commit: str) -> int:
    args = ["--ref", "refs/heads/develop", "--sha", commit, "publish"]
    return await anyio.to_thread.run_sync(main, args)


@pytest.mark.rig
@pytest.mark.anyio
async def test_a_published_sha_tag_is_reused_never_overwritten(
    engine: FakeEngine, rig_repository: RegistryClient, build_app_image: BuildAppImage,
    capsys: pytest.CaptureFixture[str],
) -> None:
    commit = fake_commit("reuse-1")
    async with rig_repository as client:
        build_app_image("reuse-1")
        first = await promote(client, "reuse-1", f"sha-{commit[:12]}", revision=commit)
        assert await publish_alone(commit) == 0
        assert await client.digest("latest") == first.digest
        assert await client.digest(f"sha-{commit[:12]}") == first.digest
    assert published(engine) == []  # this run's build was never pushed
    assert "already published for" in capsys.readouterr().err


@pytest.mark.rig
@pytest.mark.anyio
async def test_a_sha_tag_holding_another_commit_is_refused(
    engine: FakeEngine, rig_repository: RegistryClient, build_app_image: BuildAppImage,
    capsys: pytest.CaptureFixture[str],
) -> None:
    commit, other = fake_commit("reuse-2"), fake_commit("reuse-other")
    async with rig_repository as client:
        build_app_image("reuse-other")
        await promote(client, "reuse-other", f"sha-{commit[:12]}", revision=other)
    assert await publish_alone(commit) == 1
    assert published(engine) == []
    assert f"was built from commit {other[:12]}" in capsys.readouterr().out


LOADTEST_VARIABLES = tuple(setting.variable for setting in SETTINGS)


@pytest.fixture
def load_gate(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The engine fixture's CI job, with a step summary and no LOADTEST_* set; the summary."""
    for name in LOADTEST_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return summary


def test_the_load_gate_is_skipped_and_says_so_without_a_url(
    engine: FakeEngine, load_gate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--ref", "refs/heads/main", "--sha", SHA, "loadtest"]) == 0
    out = capsys.readouterr().out
    assert "loadtest passed" in out
    assert "skipped: LOADTEST_URL is not set, so the load gate is off" in out
    assert "**Load-test gate: skipped: LOADTEST_URL is not set" in load_gate.read_text()
    assert engine.queries == []  # the gate needs no engine


def test_a_bad_load_gate_variable_fails_the_stage_naming_it(
    engine: FakeEngine, load_gate: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("LOADTEST_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LOADTEST_P95_MS", "fast")
    assert main(["run", "--ref", "refs/heads/main", "--sha", SHA, "loadtest"]) == 1
    assert "load gate: LOADTEST_P95_MS: 'fast' is not milliseconds" in capsys.readouterr().err


def test_a_failed_staging_deploy_is_not_load_tested(
    engine: FakeEngine, load_gate: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("REGISTRY", "127.0.0.1:9")  # nothing listens: the deploy fails first
    monkeypatch.setenv("LOADTEST_URL", "http://127.0.0.1:9")
    assert main(["run", "--ref", "refs/heads/main", "--sha", SHA, "deploy", "loadtest"]) == 1
    out = capsys.readouterr().out
    assert "deploy   FAILED" in out
    assert "loadtest" not in out
    assert "Load-test gate" not in load_gate.read_text()


@pytest.mark.loadtest
def test_a_breached_threshold_fails_the_load_stage_with_the_numbers(
    engine: FakeEngine, load_gate: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:  # fmt: skip
    for name, value in (("LOADTEST_USERS", "4"), ("LOADTEST_SPAWN_RATE", "4"),
                        ("LOADTEST_DURATION", "2")):
        monkeypatch.setenv(name, value)
    with stub_server(status=500, healthy=("/health",)) as url:  # passes the post-deploy smoke
        monkeypatch.setenv("LOADTEST_URL", url)
        assert main(["run", "--ref", "refs/tags/v1.3.0-rc.1", "--sha", SHA, "loadtest"]) == 1
    err = capsys.readouterr().err
    assert f"stage 'loadtest' failed: `python -m loadtest --url {url} --users 4" in err
    assert "exited 10" in err
    assert re.search(r"failure ratio [\d.]+ % is not below 1\.00 %", err), err
    written = load_gate.read_text()
    assert "**Load-test gate: failed (exit 10)**" in written
    assert "| loadtest | **failed** |" in written
    record = json.loads((tmp_path / "reports" / "loadtest" / "summary.json").read_text())
    assert (record["exit_code"], record["breached"]) == (10, ["failure ratio"])
    assert 0 < record["failure_ratio"] < 1  # /version failed, /health did not


def test_a_release_failing_its_checks_through_the_public_url_is_not_loaded(
    engine: FakeEngine, load_gate: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:  # fmt: skip
    with stub_server(status=503, body=b"down") as url:
        monkeypatch.setenv("LOADTEST_URL", url)
        assert main(["run", "--ref", "refs/tags/v1.3.0-rc.1", "--sha", SHA, "loadtest"]) == 1
    err = capsys.readouterr().err
    assert "post-deploy check failed: GET /health answered HTTP 503, not 200: 'down'" in err
    assert "the load gate did not run" in err
    assert not (tmp_path / "reports" / "loadtest" / "summary.json").exists()
