"""The CLI's commands on several hosts (`<ENV>_HOSTS`): every host, one line or row each."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rich.console import Console

from deploy.cli.fleet_views import (
    answers_json,
    drift_line,
    fleet_result_json,
    history_json,
    run_line,
    status_digests,
    status_json,
    status_table,
)
from deploy.cli.views import history_table
from deploy.config import Fleet, Target
from deploy.deployer import Deployer
from deploy.errors import InvalidInput
from deploy.evidence import Override, check_evidence, override_record
from deploy.fleet.each import Answer, host_deployer, on_every_host
from deploy.fleet.release import FleetRelease, HostOutcome
from deploy.host.remote import Runner
from deploy.host.session import now_iso
from deploy.ledger import Entry, Release, last_healthy, newest

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

    async def up(self, args: argparse.Namespace, environ: Mapping[str, str]) -> int:
        override = Override(args.reason or "") if args.force else None
        missing = await check_evidence(self.fleet.targets[0], args.tag, environ, override)
        note = None
        if missing and override is not None:
            note = override_record(args.tag, missing, override, self.who, now_iso())
            self.say(f"evidence overridden ({override.reason}): {'; '.join(missing)}")
        runs = await FleetRelease(self.fleet, args.tag, who=self.who, say=self.say,
                                  note=note).run()  # fmt: skip
        failed = [run for run in runs if run.outcome is not HostOutcome.DEPLOYED]
        error = None
        if failed:
            error = (f"{args.tag} was not deployed on every host ({len(failed)} of "
                     f"{len(runs)}: " + ", ".join(f"{run.target.label} {run.outcome}"
                                                  for run in failed)
                     + "); one line per host above says what runs there")  # fmt: skip
        env = self.fleet.environment
        if args.json:
            self.out.print_json(json.dumps(fleet_result_json("up", env, runs, error)))
        else:
            for run in runs:
                self.out.print(run_line(env, run))
            drift = drift_line(env, [(run.target.label, run.digest) for run in runs])
            if drift:
                self.out.print(drift)
        if error:
            self.err.print(f"error: {error}")
        return EXIT_FAILED if error else EXIT_OK

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
        failed = [answer.target.label for answer in answers if answer.error is not None]
        error = f"{command} failed on {', '.join(failed)}" if failed else None
        if error and command == "lock":
            error += "; the hosts locked meanwhile were unlocked again"
        env = self.fleet.environment
        if getattr(args, "json", False):
            self.out.print_json(json.dumps(answers_json(command, env, answers, error)))
        else:
            for answer in answers:
                text = describe(answer.value) if answer.error is None else f"FAILED: {answer.error}"
                self.out.print(f"{env} {answer.target.label}: {text}")
        if error:
            self.err.print(f"error: {error}")
        return EXIT_FAILED if error else EXIT_OK

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
    environ: Mapping[str, str],
) -> int:
    """`python -m deploy ENV COMMAND` when `<ENV>_HOSTS` names the hosts."""
    commands = FleetCommands(fleet, who, out, err)
    command = "up" if args.command == "deploy" else args.command
    if command == "up":
        return await commands.up(args, environ)
    if command == "status":
        return await commands.status(args)
    if command == "history":
        return await commands.history(args)
    if command == "logs":
        return await commands.logs(args)
    if command == "lock":
        return await commands.lock(args)
    if command == "rollback":
        return await commands.each(args, "rollback", lambda d: d.rollback(args.to),
                                   lambda release: f"rolled back to {release.tag}; healthy")
    if command == "init":
        return await commands.each(args, "init", lambda d: d.init(),
                                   lambda changes: "; ".join(changes) or "nothing to change")
    if command == "unlock":
        return await commands.each(args, "unlock", lambda d: d.unlock(), lambda removed: (
            f"unlocked (was {removed.owner})" if removed else "unlocked"))  # fmt: skip
    raise InvalidInput(f"{command} acts on a canary, which runs on one host; "
                       f"{fleet.prefix}_HOSTS names {len(fleet.targets)}.")  # fmt: skip
