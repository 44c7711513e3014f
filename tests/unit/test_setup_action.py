"""The local action .github/actions/setup: every job's one way to Python and the project."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from tests.unit.dev_tools import dev_tool
from tests.unit.test_workflows import (
    ROOT,
    SETUP_ACTION,
    action_steps,
    dagger_args,
    dagger_steps,
    jobs,
    local_action,
    steps,
)

CHECKOUT = "actions/checkout@"
SETUP_PYTHON = "actions/setup-python@"


def uses(step: dict[str, Any]) -> str:
    return str(step.get("uses", ""))


def runs_python(job: dict[str, Any]) -> bool:
    """A Dagger step runs `python ci/main.py`; a run step may call python itself."""
    scripts = " ".join(str(step.get("run", "")) for step in steps(job))
    return bool(dagger_steps(job)) or bool(re.search(r"\bpython3?\b", scripts))


def setup_step(job: dict[str, Any]) -> dict[str, Any]:
    (found,) = [step for step in steps(job) if uses(step) == SETUP_ACTION]
    return found


def install_script() -> str:
    (script,) = [s["run"] for s in local_action(SETUP_ACTION)["runs"]["steps"]
                 if "pip install" in s.get("run", "")]  # fmt: skip
    assert isinstance(script, str)
    return script


def test_every_job_that_runs_python_checks_out_then_uses_the_setup_action() -> None:
    python_jobs = [name for name, job in jobs().items() if runs_python(job)]
    assert len(python_jobs) == len(jobs()), "every job runs python today"
    for name in python_jobs:
        found = steps(jobs()[name])
        assert uses(found[0]).startswith(CHECKOUT), f"{name}: a local action needs the checkout"
        assert found.index(setup_step(jobs()[name])) == 1, f"{name}: setup right after checkout"
        for step in found:
            assert not uses(step).startswith(SETUP_PYTHON), f"{name}: Python is the action's"
            assert "pip install" not in str(step.get("run", "")), f"{name}: install in the action"


def test_the_setup_action_is_composite_and_leaves_checkout_to_the_job() -> None:
    action = local_action(SETUP_ACTION)
    assert action["runs"]["using"] == "composite"
    found = action["runs"]["steps"]
    assert not [step for step in found if uses(step).startswith(CHECKOUT)]
    assert [step for step in found if uses(step).startswith(SETUP_PYTHON)]
    for step in found:
        if "run" in step:
            assert step.get("shell") == "bash", step  # a composite's run step must name it
            # inputs and expressions reach a script through `env:`, never spliced into it
            assert "${{" not in step["run"], step["run"]


def test_jobs_pass_only_inputs_the_action_declares_and_the_load_gate_gets_locust() -> None:
    declared = set(local_action(SETUP_ACTION).get("inputs", {}))
    for name, job in jobs().items():
        given = setup_step(job).get("with", {})
        assert set(given) <= declared, name
        extras = str(given.get("extras", "")).split(",")
        assert ("loadtest" in extras) == ("loadtest" in dagger_args(job).split()), name


@pytest.mark.parametrize(
    ("extras", "argv"),
    [("", ["install", "-e", "."]),
     ("loadtest", ["install", "-e", ".[loadtest]"]),
     ("loadtest,dev", ["install", "-e", ".[loadtest,dev]"])],
)  # fmt: skip
def test_the_install_step_installs_the_project_with_the_extras_asked_for(
    extras: str, argv: list[str]
) -> None:
    stub = 'pip() { printf "%s\\n" "$@"; }\n'  # the script's pip, printing its arguments
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", stub + install_script()],
                            env={"EXTRAS": extras, "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    assert result.stdout.splitlines() == argv


def test_shellcheck_passes_on_the_local_actions_scripts() -> None:
    """actionlint checks the workflow's scripts only; a composite action's are checked here."""
    shellcheck = dev_tool("shellcheck")
    scripts = [(path, step) for path, found in action_steps().items() for step in found
               if "run" in step]  # fmt: skip
    assert scripts
    for path, step in scripts:
        result = subprocess.run(
            [shellcheck, f"--shell={step['shell']}", "--norc", "-"], input=step["run"],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, f"{path}: {step.get('name')}\n{result.stdout}"
