"""The scanners as data: exact argv, exit-code meanings, Safety's skip, and `conclude`."""

from __future__ import annotations

import pytest

from ci.scans import tools
from ci.scans.findings import Status
from ci.scans.parse import conclude
from ci.scans.tools import Outcome

PY = "python:3.12-slim-bookworm@sha256:" + "a" * 64


def test_bandit_writes_json_and_sarif_over_the_service_and_pipeline_code() -> None:
    tool = tools.bandit(PY)
    assert tool.image == PY  # the same base as the service image and its tests
    assert tool.pip_cache
    assert tool.install == (
        ("pip", "install", "--disable-pip-version-check", "bandit[sarif]==1.9.4"),
    )
    assert [s.argv for s in tool.steps] == [
        ("bandit", "-r", "app", "ci", "deploy", "-f", "json", "-o", "/reports/raw/bandit.json",
         "-q"),
        ("bandit", "-r", "app", "ci", "deploy", "-f", "sarif", "-o", "/reports/raw/bandit.sarif",
         "-q"),
    ]  # fmt: skip
    assert tool.report == "/reports/raw/bandit.json"


def test_gitleaks_scans_history_redacted_with_the_repo_config() -> None:
    tool = tools.gitleaks()
    assert tool.image == "zricethezav/gitleaks:v8.28.0"
    assert not tool.pip_cache
    assert tool.needs_git_history
    (step,) = tool.steps
    assert step.argv == (
        "gitleaks", "git", "/src", "--redact", "--no-banner",
        "--config", "/src/.gitleaks.toml",
        "--gitleaks-ignore-path", "/src/.gitleaksignore",
        "--report-format", "json", "--report-path", "/reports/raw/gitleaks.json",
        "--exit-code", "3",
    )  # fmt: skip


def test_pip_audit_over_the_installed_project_freezes_then_audits_without_pip() -> None:
    tool = tools.pip_audit(PY)
    venv, install, freeze, audit = tool.steps
    assert venv.argv == ("python", "-m", "venv", "/audit-venv")
    # the project is installed after the source is mounted (a step), not before (install)
    assert install.argv == ("/audit-venv/bin/pip", "install", "--disable-pip-version-check",
                            "/src")
    assert all("/src" not in argv for argv in tool.install)
    assert freeze.argv == ("/audit-venv/bin/pip", "freeze", "--exclude", "shipyard")
    assert freeze.stdout_path == "/reports/raw/pip-audit-requirements.txt"
    assert audit.argv == (
        "pip-audit", "-r", "/reports/raw/pip-audit-requirements.txt", "--no-deps",
        "--disable-pip", "-f", "json", "-o", "/reports/raw/pip-audit.json",
        "--progress-spinner", "off",
    )  # fmt: skip


def test_pip_audit_over_a_lock_file_installs_only_pip_audit() -> None:
    tool = tools.pip_audit(PY, ["/src/requirements.lock"])
    (audit,) = tool.steps
    assert audit.argv[:3] == ("pip-audit", "-r", "/src/requirements.lock")
    # the lock is hashed (pip-compile --generate-hashes): an unhashed or incomplete one fails
    assert "--require-hashes" in audit.argv
    assert "--no-deps" not in audit.argv
    assert tool.install == (
        ("pip", "install", "--disable-pip-version-check", "pip-audit==2.10.1"),
    )


def test_safety_reads_its_key_from_a_secret_env_var_not_argv() -> None:
    tool = tools.safety(PY)
    assert tool.secret_env == "SAFETY_API_KEY"
    assert all("--key" not in step.argv for step in tool.steps)
    assert tool.steps[-1].argv == (
        "safety", "scan", "--target", "/safety-target", "--save-as", "json",
        "/reports/raw/safety.json",
    )  # fmt: skip


@pytest.mark.parametrize("locks", [(), ("/src/app/requirements.txt",)])
def test_safety_touches_the_source_only_after_it_is_mounted(locks: tuple[str, ...]) -> None:
    tool = tools.safety(PY, locks)
    assert all(not any(arg.startswith("/src") for arg in argv) for argv in tool.install)
    assert any(arg.startswith("/src") for step in tool.steps for arg in step.argv)


def test_safety_over_the_lock_copies_it_into_its_target() -> None:
    tool = tools.safety(PY, ["/src/app/requirements.txt"])
    assert [step.argv for step in tool.steps[:2]] == [
        ("mkdir", "-p", "/safety-target"),
        ("cat", "/src/app/requirements.txt"),
    ]
    assert tool.steps[1].stdout_path == "/safety-target/requirements.txt"


def test_several_locks_are_all_audited_in_hash_checking_mode() -> None:
    locks = ["/src/app/requirements.txt", "/audit/locked-requirements.txt"]
    plan = tools.plan_scans(python_image=PY, safety_key_set=True, locks=locks)
    by_name = {tool.name: tool for tool in plan.tools}
    audit = by_name["pip-audit"].steps[-1].argv
    assert audit[:5] == ("pip-audit", "-r", locks[0], "-r", locks[1])
    assert "--require-hashes" in audit
    assert by_name["safety"].steps[1].argv == ("cat", *locks)


def test_skipped_scanners_are_listed_as_skipped_never_run() -> None:
    plan = tools.plan_scans(python_image=PY, safety_key_set=True, skip=frozenset({"gitleaks"}))
    assert [t.name for t in plan.tools] == ["bandit", "pip-audit", "safety"]
    (skipped,) = plan.skipped
    assert (skipped.tool, skipped.status) == ("gitleaks", Status.SKIPPED)
    assert "CI_SKIP_SCANS" in skipped.detail


def test_without_a_key_safety_is_skipped_with_a_reason() -> None:
    plan = tools.plan_scans(python_image=PY, safety_key_set=False)
    assert [t.name for t in plan.tools] == ["bandit", "pip-audit", "gitleaks"]
    (skipped,) = plan.skipped
    assert skipped.status is Status.SKIPPED
    assert "SAFETY_API_KEY is not set" in skipped.detail
    with_key = tools.plan_scans(python_image=PY, safety_key_set=True)
    assert [t.name for t in with_key.tools] == ["bandit", "pip-audit", "gitleaks", "safety"]
    assert with_key.skipped == ()


EXITS = [
    # tool, exit code, outcome
    ("bandit", 0, Outcome.CLEAN),
    ("bandit", 1, Outcome.FINDINGS),
    ("bandit", 2, Outcome.ERROR),
    ("pip-audit", 1, Outcome.FINDINGS),
    ("pip-audit", 127, Outcome.ERROR),
    ("gitleaks", 0, Outcome.CLEAN),
    ("gitleaks", 3, Outcome.FINDINGS),
    ("gitleaks", 1, Outcome.ERROR),
    ("safety", 64, Outcome.FINDINGS),
    ("safety", 65, Outcome.ERROR),  # invalid key
    ("safety", 1, Outcome.ERROR),
]
TOOLS = {
    t.name: t for t in (tools.bandit(PY), tools.pip_audit(PY), tools.gitleaks(), tools.safety(PY))
}


@pytest.mark.parametrize(("name", "code", "outcome"), EXITS)
def test_exit_codes_tell_findings_from_errors(name: str, code: int, outcome: Outcome) -> None:
    assert TOOLS[name].steps[-1].exit_codes.outcome(code) is outcome


LEAK = (
    '[{"RuleID": "r", "File": "a.py", "StartLine": 1, "Secret": "REDACTED", "Commit": "c",'
    ' "Fingerprint": "c:a.py:r:1"}]'
)
CONCLUSIONS = [
    # exit codes, report, status, number of findings
    ([0], "[]", Status.OK, 0),
    ([3], LEAK, Status.OK, 1),
    ([1], None, Status.ERROR, 0),  # gitleaks' own error code
    ([3], None, Status.ERROR, 0),  # says leaks, wrote nothing
    ([3], "[]", Status.ERROR, 0),  # says leaks, lists none
    ([0], "{not json", Status.ERROR, 0),
    ([], "[]", Status.ERROR, 0),  # never ran
]


@pytest.mark.parametrize(("codes", "report", "status", "count"), CONCLUSIONS)
def test_conclude_never_turns_a_crash_into_a_pass(
    codes: list[int], report: str | None, status: Status, count: int
) -> None:
    run = conclude(tools.gitleaks(), codes, report, stderr_tail="boom")
    assert (run.status, len(run.findings)) == (status, count)
    assert run.tool == "gitleaks"


def test_every_install_pins_an_exact_version() -> None:
    for tool in TOOLS.values():
        for argv in tool.install:
            if argv[:2] == ("pip", "install"):
                assert "--no-cache-dir" not in argv  # the stage mounts a pip cache volume
                assert f"=={tool.version}" in argv[-1]
