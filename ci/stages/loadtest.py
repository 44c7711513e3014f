"""The loadtest stage: the Locust gate against LOADTEST_URL, always in a process of its own."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from ci.errors import CiError, StageFailed
from ci.stages.context import StageContext
from ci.stages.evidence import record_load_gate
from ci.stages.steps import tail
from deploy.host.health import run_checks, run_smoke_command
from loadtest.config import URL_VARIABLE, LoadConfig, resolve, to_argv
from loadtest.errors import ConfigError
from loadtest.report import numbers_text, step_summary_markdown
from loadtest.thresholds import EXIT_ERROR
from shipyard.declaration import Check, Declaration

# Locust gevent-patches the process that imports it: the gate runs as `python -m loadtest`,
# with only these variables (no registry token, SSH key or webhook reaches it).
CHILD_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
                     "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "VIRTUAL_ENV")
SKIPPED = (f"skipped: {URL_VARIABLE} is not set, so the load gate is off; set it (for example to "
           "the staging URL, as a variable of the staging environment) to turn it on")
NO_LOCUST = "Locust is not installed here: pip install -e '.[loadtest]' (scripts/setup does)."


@dataclass(frozen=True, slots=True)
class GateRun:
    """How `python -m loadtest` ended: its exit code, its JSON line, and its stderr."""

    argv: tuple[str, ...]
    exit_code: int
    record: dict[str, Any] | None
    stderr: str

    @property
    def verdict(self) -> str:
        if self.record is None:
            return NO_LOCUST if "No module named 'locust'" in self.stderr else tail(self.stderr)
        numbers = numbers_text(self.record) + "; " if "requests" in self.record else ""
        return f"{numbers}{self.record['verdict']}"


def gate_config(environ: Mapping[str, str], reports: Path) -> LoadConfig | None:
    """The gate's settings from LOADTEST_*, reports under `reports`; None when no URL is set."""
    if not environ.get(URL_VARIABLE, "").strip():
        return None
    try:
        return resolve({"reports": str(reports)}, environ)
    except ConfigError as error:
        raise CiError(f"load gate: {error}") from None


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ[name] for name in CHILD_ENVIRONMENT if name in environ}


def last_json_line(stdout: str) -> dict[str, Any] | None:
    """The summary line `python -m loadtest` prints last, if it printed one."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        return found if isinstance(found, dict) else None
    return None


async def run_gate(config: LoadConfig, root: Path) -> GateRun:
    """Run the gate as a child process of this interpreter, from the repository root."""
    argv = ("-m", "loadtest", *to_argv(config))
    done = await anyio.run_process([sys.executable, *argv], check=False, cwd=root,
                                   env=child_environment(os.environ))
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    code = done.returncode if done.returncode >= 0 else EXIT_ERROR  # killed by a signal
    return GateRun(("python", *argv), code, last_json_line(stdout), stderr)


def record_summary(step_summary: Path | None, text: str) -> None:
    if step_summary is not None:
        with step_summary.open("a", encoding="utf-8") as handle:
            handle.write(text)


def summary_text(gate: GateRun, config: LoadConfig) -> str:
    if gate.record is not None and "requests" in gate.record:
        return step_summary_markdown(gate.record, str(config.reports))
    return f"**Load-test gate: error (exit {gate.exit_code})**: {gate.verdict}\n\n"


async def run(ctx: StageContext) -> str:
    config = gate_config(os.environ, ctx.settings.reports / "loadtest")
    if config is None:
        record_summary(ctx.settings.step_summary, f"**Load-test gate: {SKIPPED}.**\n\n")
        return SKIPPED
    smoked = await post_deploy_smoke(ctx, config.url)
    ctx.say(f"loading {config.url}: {config.users} users for {config.duration_s} s; "
            f"{config.thresholds.describe()}")
    gate = await run_gate(config, ctx.root)
    record_summary(ctx.settings.step_summary, summary_text(gate, config))
    if gate.record is not None:  # a verdict (not an error): evidence for the promotion
        ctx.say(await record_load_gate(ctx, gate.exit_code == 0, gate.verdict))
    if gate.exit_code != 0:
        raise StageFailed("loadtest", list(gate.argv), gate.exit_code, gate.verdict)
    return f"{smoked}; {gate.verdict}; report in {config.reports}"


def smoke_checks(declaration: Declaration) -> list[Check]:
    """What the deployed release must answer through its public URL: its health contract,
    then the declared `[[smoke.checks]]` (the same ones it passed before the switch)."""
    health = declaration.health
    expect = None if health.expect == {} else health.expect
    return [Check(path=health.path, status=health.status, expect=expect),
            *declaration.smoke.checks]  # fmt: skip


async def post_deploy_smoke(ctx: StageContext, url: str) -> str:
    """The declared checks through the public URL after the deploy, before any load: a
    failure fails the stage (and no load is sent), naming the check and its answer."""
    checks, command = smoke_checks(ctx.declaration), ctx.declaration.smoke.command
    failure = await run_checks(url.rstrip("/"), checks)
    problem = None if failure is None else failure.line("post-deploy")
    if problem is None and command:
        found = await run_smoke_command(command, url.rstrip("/"), environ=os.environ)
        problem = None if found is None else f"post-deploy smoke command failed: {found}"
    if problem is not None:
        raise CiError(f"stage 'loadtest' failed: {problem} at {url}; the load gate did not run")
    also = " and the smoke command" if command else ""
    return f"{len(checks)} post-deploy check(s){also} passed at {url}"
