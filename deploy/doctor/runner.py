"""The doctor's I/O: runs the checks of deploy/doctor/checks.py over SSH, read-only."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from deploy.commands import Command
from deploy.config import Fleet, Target
from deploy.doctor.checks import (
    CHECKS,
    HEALTH,
    SSH,
    Check,
    Finding,
    HostReport,
    Level,
    blocked_by,
    finding,
    ordered,
    skipped,
)
from deploy.doctor.swarm import SWARM_CHECKS
from deploy.doctor.verdicts import Facts, Output, health_verdict, ssh_verdict
from deploy.errors import ConnectionFailed
from deploy.fleet.each import each_target
from deploy.host.health import wait_healthy
from deploy.host.remote import connect
from deploy.host.runner import Runner
from deploy.swarm.stack import service_name


def facts_of(target: Target) -> Facts:
    service = service_name(target) if target.kind == "swarm" else ""
    return Facts(target.environment, target.username, target.app_path, target.compose,
                 swarm_service=service,
                 converge_timeout=target.swarm.converge_timeout)  # fmt: skip


def checks_for(target: Target) -> tuple[Check, ...]:
    """Every target's checks; the swarm target's after them."""
    return CHECKS + (SWARM_CHECKS if target.kind == "swarm" else ())


async def diagnose(target: Target, *, clock: Callable[[], float] = time.time) -> HostReport:
    """Every check on the target's host; nothing on the host is written or locked."""
    facts = facts_of(target)
    where = f"{target.username}@{target.host}:{target.port}"
    try:
        async with connect(target) as runner:
            ssh = finding(*SSH, ssh_verdict(None, f"{where}, host key verified", facts))
            found = await run_checks(runner, target, facts, clock)
    except ConnectionFailed as error:
        cause = type(error.__cause__).__name__ if error.__cause__ else "ConnectionLost"
        ssh = finding(*SSH, ssh_verdict(cause, str(error), facts))
        found = [skipped(name, title, SSH[0]) for name, title in all_titles(target)[1:]]
    return HostReport(target.host, target.port, ordered([ssh, *found]), target.app_path,
                      target.label)  # fmt: skip


def all_titles(target: Target) -> list[tuple[str, str]]:
    return [SSH, *((check.name, check.title) for check in checks_for(target)), HEALTH]


async def run_checks(
    runner: Runner, target: Target, facts: Facts, clock: Callable[[], float]
) -> list[Finding]:
    done: dict[str, Finding] = {}
    outputs_of: dict[Command, Output] = {}  # checks reading the same listing run it once
    for check in checks_for(target):
        need = blocked_by(check, done)
        if need is not None:
            done[check.name] = skipped(check.name, check.title, need)
            continue
        outputs = []
        for command in check.commands(facts):
            if command not in outputs_of:
                outputs_of[command] = await run_one(runner, command, clock)
            outputs.append(outputs_of[command])
        done[check.name] = finding(check.name, check.title, check.verdict(tuple(outputs), facts))
        if check.learn is not None and done[check.name].level is Level.PASS:
            facts = check.learn(facts, tuple(outputs))
    done[HEALTH[0]] = await check_health(runner, target, facts)
    return list(done.values())


async def run_one(runner: Runner, command: Command, clock: Callable[[], float]) -> Output:
    started = clock()
    result = await runner.run(command, check=False)
    return Output(result.exit_status, result.stdout, result.stderr, started, clock())


async def check_health(runner: Runner, target: Target, facts: Facts) -> Finding:
    """One quick probe through a forwarded port, as `status` does."""
    quick = replace(target.health, successes=1, timeout=3.0)
    async with runner.forward_port(quick.port) as port:
        verdict = await wait_healthy(port, quick)
    judgement = health_verdict(verdict.healthy, verdict.last.detail, quick.port, facts,
                               quick.path, target.service)  # fmt: skip
    return finding(*HEALTH, judgement)


async def diagnose_all(fleet: Fleet) -> list[HostReport]:
    """Every host's checks at once, reported in the order the hosts are named."""
    reports = []
    for answer in await each_target(fleet, diagnose):
        if answer.value is None:
            raise answer.failure or AssertionError("a host was not diagnosed")
        reports.append(answer.value)
    return reports
