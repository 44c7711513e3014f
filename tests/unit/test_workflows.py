"""The GitHub Actions wrapper: actionlint, and its rules (pins, triggers, gates, secrets)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PIPELINE = WORKFLOWS / "pipeline.yml"
LAPTOP_COMMAND = "dagger run python ci/main.py"
DAGGER_ACTION = "dagger/dagger-for-github@"
PINNED_USES = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}")
PINNED_LINE = re.compile(r"uses: [^@\s]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
SECRET_EXPRESSION = re.compile(r"\$\{\{\s*secrets\.")
PUBLISHING_STAGES = re.compile(r"\b(publish|promote)\b")


def load_pipeline() -> dict[Any, Any]:
    workflow = yaml.safe_load(PIPELINE.read_text(encoding="utf-8"))
    assert isinstance(workflow, dict)
    return workflow


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """`on:`, which YAML 1.1 (PyYAML) reads as the boolean True."""
    on = workflow["on"] if "on" in workflow else workflow[True]
    assert isinstance(on, dict)
    return on


def jobs() -> dict[str, dict[str, Any]]:
    found = load_pipeline()["jobs"]
    assert isinstance(found, dict)
    return found


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def dagger_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in steps(job) if str(step.get("uses", "")).startswith(DAGGER_ACTION)]


def dagger_args(job: dict[str, Any]) -> str:
    return " ".join(str(step["with"]["args"]) for step in dagger_steps(job))


def find_actionlint() -> str | None:
    """On PATH, or beside this interpreter (a venv's bin/ need not be on PATH)."""
    beside = Path(sys.executable).parent / "actionlint"
    return shutil.which("actionlint") or (str(beside) if beside.is_file() else None)


def readme_laptop_command() -> str | None:
    """The line of a fenced block in README.md that runs the pipeline under Dagger."""
    fenced = False
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        command = line.split(" #")[0].strip().removeprefix("$ ").strip()
        if fenced and command.startswith("dagger run "):
            return command
    return None


def test_actionlint_passes() -> None:
    binary = find_actionlint()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("actionlint is not installed and CI is set: pip install -e '.[dev]'.")
        pytest.skip("actionlint is not installed: pip install -e '.[dev]' to lint workflows.")
    files = sorted(str(path) for path in (*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")))
    assert files, f"no workflow files in {WORKFLOWS}"
    result = subprocess.run(
        [binary, "-no-color", *files], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_shows_the_laptop_command() -> None:
    assert LAPTOP_COMMAND in (ROOT / "README.md").read_text(encoding="utf-8")


def test_dagger_steps_run_the_laptop_command() -> None:
    laptop = readme_laptop_command() or LAPTOP_COMMAND
    assert laptop == LAPTOP_COMMAND
    found = [step for job in jobs().values() for step in dagger_steps(job)]
    assert found, "no dagger/dagger-for-github step"
    for step in found:
        assert step["with"]["verb"] == "run"
        args = str(step["with"]["args"])
        assert args.startswith("python ci/main.py")
        assert f"dagger run {args}".startswith(laptop)


def test_dagger_version_is_pinned() -> None:
    for job in jobs().values():
        for step in dagger_steps(job):
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", str(step["with"]["version"]))


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    for name, job in jobs().items():
        for step in steps(job):
            if "uses" in step:
                assert PINNED_USES.fullmatch(step["uses"]), f"{name}: {step['uses']}"
    for line in PIPELINE.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith(("uses:", "- uses:")):
            assert PINNED_LINE.search(line.strip()), line


def test_triggers() -> None:
    on = triggers(load_pipeline())
    assert set(on) == {"push", "pull_request"}
    assert set(on["push"]) == {"branches", "tags"}
    assert sorted(on["push"]["branches"]) == ["develop", "main"]
    assert on["push"]["tags"] == ["v*"]
    assert on["pull_request"] in (None, {})


def test_deploy_jobs_run_behind_environments_and_are_never_cancelled() -> None:
    gated = {name: job["environment"] for name, job in jobs().items() if "environment" in job}
    assert gated == {"deploy-staging": "staging", "release": "production"}
    for name in gated:
        concurrency = jobs()[name]["concurrency"]
        assert concurrency["cancel-in-progress"] is False, name
        assert "deploy" in dagger_args(jobs()[name]), name


def test_permissions_are_least_privilege() -> None:
    assert load_pipeline()["permissions"] == {"contents": "read"}
    for name, job in jobs().items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{name}: permissions must be listed per job"
        assert "write-all" not in str(permissions), name
        assert permissions.get("contents") == "read", name


def test_packages_write_only_on_jobs_that_publish() -> None:
    for name, job in jobs().items():
        args = dagger_args(job)
        publishes = bool(PUBLISHING_STAGES.search(args)) or args == "python ci/main.py"
        writes = job["permissions"].get("packages") == "write"
        assert writes == publishes, name


def test_scanning_jobs_upload_sarif_and_reports() -> None:
    for name, job in jobs().items():
        uses = {str(step.get("uses", "")).split("@")[0]: step for step in steps(job)}
        assert "always()" in uses["actions/upload-artifact"]["if"], name
        assert uses["actions/upload-artifact"]["with"]["path"].rstrip("/") == "reports"
        if "scan" not in dagger_args(job):
            continue
        assert job["permissions"].get("security-events") == "write", name
        assert "always()" in uses["github/codeql-action/upload-sarif"]["if"], name
        assert uses["actions/checkout"]["with"]["fetch-depth"] == 0, name


def test_secrets_are_never_in_run_steps() -> None:
    for name, job in jobs().items():
        for step in steps(job):
            assert not SECRET_EXPRESSION.search(str(step.get("run", ""))), name
