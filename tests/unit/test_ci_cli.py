"""The `plan` command: engine-free, stable JSON, exit 2 on refused input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ci.context import detect_context
from ci.errors import ContextError
from ci.main import main

ROOT = Path(__file__).resolve().parents[2]
SHA = "c" * 40


def test_plan_json_for_a_release_tag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--ref", "refs/tags/v1.2.3", "--sha", SHA, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["action"] == "promote"
    assert plan["tags"] == ["v1.2.3"]
    assert plan["environment"] == "production"


def test_hostile_ref_exits_2_and_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--ref", "refs/tags/v1.2.3;id", "--sha", SHA]) == 2
    assert "refs/tags/v1.2.3;id" in capsys.readouterr().err


def test_human_summary_names_stages_and_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--ref", "refs/heads/main", "--sha", SHA]) == 0
    out = capsys.readouterr().out
    assert "build → smoke → test → scan → publish → deploy" in out
    assert "deploy:      staging" in out


def test_script_runs_as_a_file_without_an_engine() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "ci" / "main.py"), "plan", "--ref", "refs/heads/develop",
         "--sha", SHA, "--json"],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tags"] == ["latest", "sha-cccccccccccc"]


def test_github_variables_win_over_git() -> None:
    context = detect_context(
        {"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/pull/3/merge", "GITHUB_SHA": SHA,
         "GITHUB_EVENT_NAME": "pull_request"}
    )
    assert (context.ref, context.sha, context.event, context.in_ci) == (
        "refs/pull/3/merge", SHA, "pull_request", True,
    )


def test_missing_github_sha_is_named() -> None:
    with pytest.raises(ContextError, match="GITHUB_SHA"):
        detect_context({"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/main"})


def test_local_checkout_gives_branch_and_tag(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True,
            env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                 "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
                 "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        ).stdout.strip()

    git("init", "-q", "-b", "develop")
    git("commit", "-q", "--allow-empty", "-m", "first")
    sha = git("rev-parse", "HEAD")
    assert detect_context({}, tmp_path).ref == "refs/heads/develop"
    git("tag", "v2.0.0")
    git("checkout", "-q", "--detach")
    context = detect_context({}, tmp_path)
    assert (context.ref, context.sha, context.in_ci) == ("refs/tags/v2.0.0", sha, False)


def test_not_a_checkout_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="not a git checkout"):
        detect_context({}, tmp_path)


def test_report_rerenders_saved_reports_without_an_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    fixtures = ROOT / "tests" / "fixtures" / "scans"
    bandit = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", str(fixtures / "vulnerable"), "-f", "json", "-q"],
        capture_output=True, text=True, check=False,
    )
    report = tmp_path / "bandit.json"
    report.write_text(bandit.stdout)
    assert main(["report", str(report), str(fixtures / "gitleaks-clean.json")]) == 1
    out = capsys.readouterr().out
    assert "Security scans: ❌ failed" in out
    assert "`B602`" in out
    assert main(["report", str(tmp_path / "missing.json")]) == 2


def test_help_lists_every_command_and_version_names_the_sdk(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "plan", "report"):
        assert f"    {command} " in out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "(Dagger SDK 0.21.8)" in capsys.readouterr().out


def test_console_script_help_names_the_command_typed() -> None:
    script = Path(sys.executable).parent / "shipyard-ci"
    done = subprocess.run([str(script), "plan", "--help"], capture_output=True, text=True,
                          check=False)
    assert done.stdout.startswith("usage: shipyard-ci plan ")


@pytest.mark.parametrize("argv", [["build", "--ref", "refs/heads/x"], ["run", "build"]])
def test_run_is_the_default_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # an empty --sha is refused before anything runs, whichever form was used
    assert main([*argv, "--sha", ""]) == 2
    assert "--sha is empty" in capsys.readouterr().err
