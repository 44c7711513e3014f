"""The CLI's commands on several hosts (`<ENV>_HOSTS`): every host, one line or row each."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rich.console import Console

from deploy.cli.fleet_views import (
    answers_json,
    drift_line,
    fleet_result_json,
    history_json,
    status_digests,
    status_json,
    status_table,
)
from deploy.cli.views import history_table
from deploy.config import Fleet, Target
from deploy.deployer import Deployer
from deploy.errors import InvalidInput
from deploy.fleet.each import Answer, host_deployer, on_every_host
from deploy.fleet.release import run_line
from deploy.host.runner import Runner
from deploy.ledger import Entry, Release, last_healthy, newest
from deploy.release import ReleaseResult

EXIT_OK, EXIT_FAILED = 0, 1


class FleetCommands:
    """One command of the CLI run on every host of a fleet."""

    def __init__(self, fleet: Fleet, who: str, out: Console, err: Console) -> None:
        self.fleet, self.who, self.out, self.err = fleet, who, out, err

    def say(self, line: str) -> None:
        self.err.print(f"· {line}")

    def make(self, runner: Runner, target: Target) -> Deployer:
        return host_deployer(runner, target, self.who, self.say)

    async def every(self, action: Callable[[Deployer], Awaitable[Any]]) -> list[Answer[Any]]:
        return await on_every_host(self.fleet, self.make, action)

    async def each(
        self, args: argparse.Namespace, command: str, action: Callable[[Deployer], Awaitable[Any]],
        describe: Callable[[Any], str],
    ) -> int:
        """rollback, init, unlock: on every host; a line (or --json) per host."""
        return self.report(args, command, await self.every(action), describe)

    async def lock(self, args: argparse.Namespace) -> int:
        """Lock every host, or none: the hosts locked before one refused are unlocked."""
        answers = await self.every(lambda deployer: deployer.lock(args.reason))
        if any(answer.error for answer in answers):
            taken = Fleet(self.fleet.environment, tuple(
                answer.target for answer in answers if answer.error is None))  # fmt: skip
            await on_every_host(taken, self.make, lambda deployer: deployer.unlock())
        return self.report(args, "lock", answers,
                           lambda lock: f"locked by {lock.owner} ({lock.reason})")  # fmt: skip

    def report(
        self, args: argparse.Namespace, command: str, answers: list[Answer[Any]],
        describe: Callable[[Any], str],
    ) -> int:
        return report_answers(args, command, self.fleet.environment, answers, self.out,
                              self.err, describe)  # fmt: skip

    async def status(self, args: argparse.Namespace) -> int:
        answers = await self.every(lambda deployer: deployer.status(probe=not args.no_probe))
        env = self.fleet.environment
        if args.json:
            self.out.print_json(json.dumps(status_json(env, answers)))
        else:
            self.out.print(status_table(answers))
            self.out.print(drift_line(env, status_digests(answers)) or f"{env}: no drift")
        return EXIT_FAILED if any(answer.error for answer in answers) else EXIT_OK

    async def history(self, args: argparse.Namespace) -> int:
        newest([], args.limit)  # a negative --limit is refused before any SSH connection

        async def entries(deployer: Deployer) -> list[Entry]:
            return newest(list((await deployer.ledger()).entries), args.limit)

        answers: list[Answer[list[Entry]]] = await self.every(entries)
        env = self.fleet.environment
        drift = drift_line(env, [(answer.target.label, last_digest(answer.value or []))
                                 for answer in answers])  # fmt: skip
        if args.json:
            data = history_json(env, answers)
            data["drift"] = drift is not None
            self.out.print_json(json.dumps(data))
        else:
            for answer in answers:
                self.out.print(f"{env} {answer.target.label}:")
                self.out.print(history_table(answer.value) if answer.value is not None
                               else f"  UNREACHABLE: {answer.error}")  # fmt: skip
            if drift:
                self.out.print(drift)
        return EXIT_FAILED if any(answer.error for answer in answers) else EXIT_OK

    async def logs(self, args: argparse.Namespace) -> int:
        """Every host's log at once, each line after its host's name."""

        async def stream(deployer: Deployer) -> int:
            label = deployer.target.label
            return await deployer.logs(args.lines, args.follow,
                                       lambda line: self.out.out(f"{label} | {line}"))  # fmt: skip

        answers = await self.every(stream)
        for answer in answers:
            if answer.error:
                self.err.print(f"error: {answer.target.label}: {answer.error}")
        return EXIT_FAILED if any(answer.error or answer.value for answer in answers) else EXIT_OK


def last_digest(entries: list[Entry]) -> str | None:
    """The digest the ledger says runs: that of the last healthy attempt."""
    found = last_healthy([entry for entry in entries if isinstance(entry, Release)])
    return found.digest if found else None


async def execute_fleet(
    args: argparse.Namespace, fleet: Fleet, who: str, out: Console, err: Console,
) -> int:
    """`python -m deploy ENV COMMAND` when `<ENV>_HOSTS` names the hosts (up and rollback go
    through deploy.release; see deploy.cli.main)."""
    commands = FleetCommands(fleet, who, out, err)
    command = "up" if args.command == "deploy" else args.command
    if command == "status":
        return await commands.status(args)
    if command == "history":
        return await commands.history(args)
    if command == "logs":
        return await commands.logs(args)
    if command == "lock":
        return await commands.lock(args)
    if command == "init":
        return await commands.each(args, "init", lambda d: d.init(),
                                   lambda changes: "; ".join(changes) or "nothing to change")
    if command == "unlock":
        return await commands.each(args, "unlock", lambda d: d.unlock(), lambda removed: (
            f"unlocked (was {removed.owner})" if removed else "unlocked"))  # fmt: skip
    raise InvalidInput(f"{command} acts on a canary, which runs on one host; "
                       f"{fleet.prefix}_HOSTS names {len(fleet.targets)}.")  # fmt: skip


def show_fleet_release(result: ReleaseResult, as_json: bool, out: Console, err: Console) -> int:
    """`up` on several hosts: a line per host and drift (or --json); exit 1 unless every host
    runs the release."""
    error = result.error()
    env = result.environment
    if as_json:
        out.print_json(json.dumps(fleet_result_json("up", env, result.hosts, error)))
    else:
        for run in result.hosts:
            out.print(run_line(env, run))
        drift = drift_line(env, [(run.target.label, run.digest) for run in result.hosts])
        if drift:
            out.print(drift)
    if error:
        err.print(f"error: {error}")
    return EXIT_FAILED if error else EXIT_OK


def report_answers(
    args: argparse.Namespace, command: str, env: str, answers: Sequence[Answer[Any]],
    out: Console, err: Console, describe: Callable[[Any], str],
) -> int:
    """A command's answer on every host: a line each (or --json); exit 1 if any failed."""
    failed = [answer.target.label for answer in answers if answer.error is not None]
    error = f"{command} failed on {', '.join(failed)}" if failed else None
    if error and command == "lock":
        error += "; the hosts locked meanwhile were unlocked again"
    if getattr(args, "json", False):
        out.print_json(json.dumps(answers_json(command, env, answers, error)))
    else:
        for answer in answers:
            text = describe(answer.value) if answer.error is None else f"FAILED: {answer.error}"
            out.print(f"{env} {answer.target.label}: {text}")
    if error:
        err.print(f"error: {error}")
    return EXIT_FAILED if error else EXIT_OK
