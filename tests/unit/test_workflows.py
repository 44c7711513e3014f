"""The GitHub Actions wrapper: actionlint, zizmor, and its rules (pins, routing, secrets)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ci.plan import plan_release
from tests.unit.dev_tools import dev_tool, find_dev_tool

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PIPELINE = WORKFLOWS / "pipeline.yml"
# Local actions: .github/actions/<name>/action.yml, used as `./.github/actions/<name>`.
ACTIONS = ROOT / ".github" / "actions"
SETUP_ACTION = "./.github/actions/setup"
ZIZMOR_CONFIG = ROOT / ".github" / "zizmor.yml"
LAPTOP_COMMAND = "dagger run python ci/main.py"
DAGGER_ACTION = "dagger/dagger-for-github@"
PINNED_USES = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}")
PINNED_LINE = re.compile(r"uses: [^@\s]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
LOCAL_USES = re.compile(r"\./\.github/actions/[A-Za-z0-9_-]+")
SECRET_EXPRESSION = re.compile(r"\$\{\{\s*secrets\.")
PUBLISHING_STAGES = re.compile(r"\b(publish|promote)\b")
JUNIT_ACTION = "mikepenz/action-junit-report@"
SHA = "0123456789abcdef0123456789abcdef01234567"
# The current major of every action the pipeline uses (checked against the actions' own tags).
CURRENT_MAJORS = {
    "actions/checkout": 7,
    "actions/setup-python": 7,
    "actions/upload-artifact": 7,
    "dagger/dagger-for-github": 8,
    "github/codeql-action/upload-sarif": 4,
    "mikepenz/action-junit-report": 6,
}
# Contexts that would let YAML decide routing beside ci/plan.py.
ROUTING_CONTEXT = re.compile(r"github\.(ref|ref_name|ref_type|head_ref|base_ref|event_name)\b")
# (ref, event) -> the jobs that run; the stages they run together must be the plan's.
ROUTES = [
    ("refs/pull/7/merge", "pull_request", {"plan", "verify"}),
    ("refs/heads/main", "schedule", {"plan", "verify"}),
    ("refs/heads/feature/x", "push", {"plan", "verify"}),
    ("refs/heads/develop", "push", {"plan", "build"}),
    ("refs/heads/main", "push", {"plan", "build", "deploy-staging"}),
    ("refs/tags/v1.2.3-rc.1", "push", {"plan", "promote", "deploy-staging"}),
    ("refs/tags/v1.2.3", "push", {"plan", "release"}),
]
# Each conjunct a job's `if:` may use, as a predicate on the plan's JSON (jobs it needs are
# taken to have succeeded or been skipped); a new one must be taught here.
OUTPUT = r"needs\.plan\.outputs\.(\w+)"
CONJUNCTS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"!cancelled\(\)|!failure\(\)"), lambda plan, m: True),
    (re.compile(OUTPUT + r" == '(\w*)'"), lambda plan, m: (plan[m[1]] or "") == m[2]),
    (re.compile(r"(!?)contains\(fromJSON\(" + OUTPUT + r"\), '(\w+)'\)"),
     lambda plan, m: (m[3] in plan[m[2]]) != bool(m[1])),
]  # fmt: skip


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


def local_action(uses: str) -> dict[str, Any]:
    """The metadata of a local action (`./.github/actions/<name>`)."""
    assert LOCAL_USES.fullmatch(uses), uses
    action = yaml.safe_load((ROOT / uses / "action.yml").read_text(encoding="utf-8"))
    assert isinstance(action, dict)
    return action


def action_files() -> list[Path]:
    return sorted(ACTIONS.glob("*/action.yml"))


def action_steps() -> dict[str, list[dict[str, Any]]]:
    """Every local action's steps, by its `./.github/actions/<name>` path."""
    found = {}
    for path in action_files():
        uses = f"./{path.parent.relative_to(ROOT)}"
        found[uses] = list(local_action(uses)["runs"].get("steps", []))
    return found


def step_output(expression: object, among: list[dict[str, Any]]) -> tuple[int, str]:
    """(index in `among` of the step, output name) that `${{ steps.ID.outputs.NAME }}` reads."""
    found = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", str(expression))
    assert found, f"{expression!r} is not one step's output"
    ids = [step.get("id") for step in among]
    assert found[1] in ids, f"no step with id {found[1]}"
    return ids.index(found[1]), found[2]


def dagger_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in steps(job) if str(step.get("uses", "")).startswith(DAGGER_ACTION)]


def dagger_args(job: dict[str, Any]) -> str:
    return " ".join(str(step["with"]["args"]) for step in dagger_steps(job))


def condition_holds(condition: object, plan: dict[str, Any]) -> bool:
    """Evaluate a job's `if:` (a conjunction of CONJUNCTS) against a plan; none means always."""
    if condition is None:
        return True
    for conjunct in str(condition).split("&&"):
        conjunct = conjunct.strip()
        known = [(p, test) for p, test in CONJUNCTS if p.fullmatch(conjunct)]
        assert known, f"teach CONJUNCTS what {conjunct!r} means"
        pattern, test = known[0]
        if not test(plan, pattern.fullmatch(conjunct)):
            return False
    return True


def job_stages(job: dict[str, Any]) -> list[str]:
    return dagger_args(job).removeprefix("python ci/main.py").split()


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
    """actionlint, with shellcheck on every `run:` (when installed: `-shellcheck=` is off); it
    also checks the inputs and outputs a job uses of a local action against its metadata."""
    binary, shellcheck = dev_tool("actionlint"), find_dev_tool("shellcheck") or ""
    files = sorted(str(path) for path in (*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")))
    assert files, f"no workflow files in {WORKFLOWS}"
    result = subprocess.run(
        [binary, "-no-color", f"-shellcheck={shellcheck}", *files],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    """zizmor audits the workflow, the local actions and dependabot.yml, offline."""
    result = subprocess.run(
        [dev_tool("zizmor"), "--offline", "--no-progress", "--config", str(ZIZMOR_CONFIG),
         str(ROOT / ".github")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
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


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    """Actions from elsewhere by commit, in the workflow and inside the local actions; a
    local action is one of .github/actions/ (read from the same checkout)."""
    assert action_files(), f"no local action in {ACTIONS}"
    used = [(name, step) for name, job in jobs().items() for step in steps(job)]
    used += [(path, step) for path, found in action_steps().items() for step in found]
    for where, step in used:
        if "uses" in step:
            uses = step["uses"]
            local = LOCAL_USES.fullmatch(uses) and (ROOT / uses / "action.yml").is_file()
            assert local or PINNED_USES.fullmatch(uses), f"{where}: {uses}"
    for path in (PIPELINE, *action_files()):
        for line in path.read_text(encoding="utf-8").splitlines():
            found = re.match(r"\s*(?:- )?(uses: \S+.*)$", line)
            if found and not LOCAL_USES.fullmatch(found[1].removeprefix("uses: ")):
                assert PINNED_LINE.search(found[1]), f"{path.name}: {line}"


def test_triggers_include_the_weekly_rescan_the_readme_promises() -> None:
    on = triggers(load_pipeline())
    assert set(on) == {"push", "pull_request", "schedule"}
    assert set(on["push"]) == {"branches", "tags"}
    assert sorted(on["push"]["branches"]) == ["develop", "main"]
    assert on["push"]["tags"] == ["v*"]
    assert on["pull_request"] in (None, {})
    (cron,) = on["schedule"]
    assert len(cron["cron"].split()) == 5
    assert "`schedule`" in (ROOT / "README.md").read_text(encoding="utf-8")  # release rules
    page = (ROOT / "docs" / "pipeline.md").read_text(encoding="utf-8")
    assert re.search(r"weekly\s+`schedule`", page), "docs/pipeline.md: the weekly re-scan"


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
    assert jobs()["deploy-staging"]["permissions"]["packages"] == "read"


def test_scanning_jobs_upload_sarif_and_reports() -> None:
    for name, job in jobs().items():
        if not dagger_steps(job):
            continue  # the plan job runs no stage and writes no report
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


def test_test_results_are_published_in_the_step_summary() -> None:
    for name, job in jobs().items():
        if not re.search(r"\btest\b", dagger_args(job)):
            continue
        (report,) = [s for s in steps(job) if str(s.get("uses", "")).startswith(JUNIT_ACTION)]
        assert "always()" in report["if"], name
        assert report["with"]["report_paths"] == "reports/tests/junit.xml", name
        assert report["with"]["job_summary"] is True, name
        # a check run would need `checks: write`, which a fork's pull request never has
        assert report["with"]["annotate_only"] is True, name


def test_every_action_is_at_its_current_major() -> None:
    lines = [line for path in (PIPELINE, *action_files())
             for line in path.read_text(encoding="utf-8").splitlines()]  # fmt: skip
    for line in lines:
        found = re.search(r"uses: ([^@\s]+)@[0-9a-f]{40} # v(\d+)\.", line)
        if found:
            action, major = found[1], int(found[2])
            assert action in CURRENT_MAJORS, f"{action}: add its current major to the table"
            assert major >= CURRENT_MAJORS[action], line.strip()


def test_the_dagger_cli_version_is_read_from_the_installed_sdk() -> None:
    """Each Dagger step's version is the setup action's output, which its own step reads from
    the dagger-io the action installed just before."""
    for name, job in jobs().items():
        for step in dagger_steps(job):
            index, output = step_output(step["with"]["version"], steps(job))
            setup = steps(job)[index]
            assert setup.get("uses") == SETUP_ACTION, f"{name}: the version is not the setup's"
            assert index < steps(job).index(step), name
            action = local_action(setup["uses"])
            inner = list(action["runs"]["steps"])
            index, output = step_output(action["outputs"][output]["value"], inner)
            source = inner[index]["run"]
            assert "m.version('dagger-io')" in source, name
            assert f"{output}=" in source, name
            assert "$GITHUB_OUTPUT" in source, name
            installs = [i for i, s in enumerate(inner) if "pip install -e " in s.get("run", "")]
            assert installs, f"{SETUP_ACTION}: no `pip install -e` before the version step"
            assert installs[0] < index, SETUP_ACTION


def test_a_first_job_publishes_the_plan_and_every_other_job_needs_it() -> None:
    plan_job = jobs()["plan"]
    assert set(plan_job["outputs"]) == {"stages", "environment", "action", "tags"}
    (plan_step,) = [s for s in steps(plan_job) if s.get("id") == "plan"]
    assert "python ci/main.py plan --json" in plan_step["run"]
    assert not dagger_steps(plan_job)
    for name, job in jobs().items():
        if name != "plan":
            needs = job["needs"] if isinstance(job["needs"], list) else [job["needs"]]
            assert "plan" in needs, name
            assert "needs.plan.outputs." in job["if"], name


def test_no_ref_or_event_condition_is_written_in_yaml() -> None:
    for name, job in jobs().items():
        decided = [str(job.get("if", "")), *(str(s.get("if", "")) for s in steps(job)),
                   dagger_args(job)]  # fmt: skip
        for text in decided:
            assert not ROUTING_CONTEXT.search(text), f"{name}: {text} (ci/plan.py decides)"


@pytest.mark.parametrize(("ref", "event", "expected"), ROUTES)
def test_the_plan_outputs_pick_the_jobs_and_each_stage_runs_once(
    ref: str, event: str, expected: set[str]
) -> None:
    plan = plan_release(ref, SHA, event).to_json()
    running = {name for name, job in jobs().items() if condition_holds(job.get("if"), plan)}
    assert running == expected
    ran = [stage for name in sorted(running) for stage in job_stages(jobs()[name])]
    assert sorted(ran) == sorted(plan["stages"])


@pytest.mark.parametrize(("ref", "event"), [("refs/pull/7/merge", "pull_request"),
                                            ("refs/heads/main", "schedule")])  # fmt: skip
def test_pull_request_and_schedule_jobs_receive_no_secret(ref: str, event: str) -> None:
    plan = plan_release(ref, SHA, event).to_json()
    for name, job in jobs().items():
        if condition_holds(job.get("if"), plan):
            text = yaml.safe_dump(job)
            assert not SECRET_EXPRESSION.search(text), name
            assert "SAFETY_API_KEY" not in text, name
            assert "SLACK_WEBHOOK_URL" not in text, name
