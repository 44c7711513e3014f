"""CLI: python -m deploy ENV COMMAND (init, up, promote, abort, status, rollback, render, ...)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import asdict
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console

from deploy.cli.doctor import doctor
from deploy.cli.fleet import execute_fleet, report_answers, show_fleet_release
from deploy.cli.render import add_render, render
from deploy.cli.views import (
    RESULT_SCHEMA,
    HealthProgress,
    fields_table,
    history_table,
    release_json,
    result_json,
)
from deploy.config import Fleet, Target, check_tag, load_fleet
from deploy.deployer import Deployer, Status
from deploy.errors import ConfigError, DeployError, InvalidInput
from deploy.evidence import Override
from deploy.fleet.each import Answer
from deploy.host.remote import connect, quiet_ssh_library
from deploy.ledger import Entry, Lock, Release, newest
from deploy.release import ReleaseResult, release, rollback
from deploy.strategies.base import CanaryView, SwarmView
from shipyard.declaration import find_declaration, read_declaration
from shipyard.errors import DeclarationError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # docs/deploy.md: 0 done, 1 failed, 2 refused
EXIT_REFUSED = EXIT_USAGE  # bad input or a policy (evidence, a held lock) turned it down
EXIT_INTERRUPTED = 130  # Ctrl-C (the shell's 128 + SIGINT)


JSON_HELP = f"print one JSON object (schema {RESULT_SCHEMA}, see docs/deploy.md) on stdout"


def build_parser(prog: str = "python -m deploy") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument("environment", help="staging, production, ... (reads <ENV>_* variables)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="turn the app folder into blue-green (idempotent)")
    up = commands.add_parser("up", aliases=["deploy"], help="deploy an image tag")
    up.add_argument("tag", help="image tag, optionally pinned: TAG@sha256:<digest>")
    up.add_argument("--json", action="store_true", help=JSON_HELP)
    up.add_argument("--force", action="store_true",
                    help="deploy without the evidence this environment asks for (needs --reason)")
    up.add_argument("--reason", help="why the evidence is overridden (recorded in the ledger)")
    commands.add_parser("promote", help="continue a paused canary to its next step")
    commands.add_parser("abort", help="remove a paused canary; the stable colour serves alone")
    status = commands.add_parser("status", help="what runs now, its digest and health")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.add_argument("--no-probe", action="store_true", help="skip the health probe")
    history = commands.add_parser("history", help="release history on the host")
    history.add_argument("--json", action="store_true", help="print the records as a JSON list")
    history.add_argument("--limit", type=int, default=20,
                         help="show the last N attempts (default 20)")
    rollback = commands.add_parser("rollback", help="go back to an earlier healthy release")
    rollback.add_argument("--to", help="tag to return to (default: the last other that passed)")
    rollback.add_argument("--json", action="store_true", help=JSON_HELP)
    lock = commands.add_parser("lock", help="hold the deploy lock (maintenance)")
    lock.add_argument("--reason", default="held by hand",
                      help="why, shown to whoever finds the host locked")
    lock.add_argument("--json", action="store_true", help=JSON_HELP)
    unlock = commands.add_parser("unlock", help="remove the deploy lock, whoever holds it")
    unlock.add_argument("--json", action="store_true", help=JSON_HELP)
    logs = commands.add_parser("logs", help="the running release's container log")
    logs.add_argument("--lines", type=int, default=100,
                      help="how many of the last lines to show (default 100)")
    logs.add_argument("--follow", action="store_true",
                      help="keep printing new lines until Ctrl-C")
    doctor_command = commands.add_parser("doctor", help="check the host, changing nothing")
    doctor_command.add_argument("--json", action="store_true",
                                help="print the checks as JSON (schema 1)")
    add_render(commands)
    return parser


def package_version() -> str:
    try:
        return metadata.version("shipyard")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def who_deploys(environ: Mapping[str, str]) -> str:
    if environ.get("DEPLOY_ACTOR"):
        return environ["DEPLOY_ACTOR"]
    if environ.get("GITHUB_ACTOR"):
        run = environ.get("GITHUB_RUN_ID", "?")
        return f"github:{environ['GITHUB_ACTOR']} (run {run})"
    return f"{getpass.getuser()}@{socket.gethostname()}"


async def execute(
    args: argparse.Namespace, target: Target, who: str, out: Console, err: Console,
) -> int:
    """The commands that act on one host (several hosts: deploy.cli.fleet)."""
    limit: int = getattr(args, "limit", 0)
    newest([], limit)  # a negative --limit is refused before any SSH connection
    async with connect(target) as runner:
        deployer = Deployer(runner, target, who=who, say=lambda line: err.print(f"· {line}"),
                            progress=HealthProgress(err))  # fmt: skip
        if getattr(args, "json", False) and args.command not in ("status", "history"):
            return await execute_json(args, deployer, target, out)
        if args.command == "init":
            for change in await deployer.init():
                out.print(f"{target.environment}: {change}")
        elif args.command == "promote":
            release = await deployer.promote()
            out.print(f"{target.environment}: {release.message}")
        elif args.command == "abort":
            out.print(f"{target.environment}: {await deployer.abort()}")
        elif args.command == "status":
            show_status(await deployer.status(probe=not args.no_probe), args.json, out)
        elif args.command == "history":
            show_history(newest(list((await deployer.ledger()).entries), limit), args.json, out)
        elif args.command == "logs":
            await deployer.logs(args.lines, args.follow, lambda line: out.out(line))
        elif args.command == "lock":
            held = await deployer.lock(args.reason)
            out.print(f"{target.environment}: locked by {held.owner} ({held.reason})")
        else:
            removed = await deployer.unlock()
            was = f" (was {removed.owner})" if removed else ""
            out.print(f"{target.environment}: unlocked{was}")
    return EXIT_OK


async def execute_any(
    args: argparse.Namespace, fleet: Fleet, who: str, out: Console, err: Console,
    environ: Mapping[str, str] = os.environ,
) -> int:
    """`up` and `rollback` go through deploy.release (one host or several alike); the other
    commands act on one host, or on every host of `<ENV>_HOSTS` (deploy.cli.fleet)."""
    for tag in (getattr(args, "tag", None), getattr(args, "to", None)):
        if tag is not None:
            check_tag(tag)  # refused before any SSH connection
    command = "up" if args.command == "deploy" else args.command

    def say(line: str) -> None:
        err.print(f"· {line}")

    if command == "up":
        override = Override(args.reason or "") if args.force else None
        result = await release(fleet, args.tag, who=who, environ=environ, say=say,
                               override=override, progress=HealthProgress(err))  # fmt: skip
        if result.several:
            return show_fleet_release(result, args.json, out, err)
        return show_release(result, args.json, out)
    if command == "rollback":
        answers = await rollback(fleet, args.to, who=who, say=say, progress=HealthProgress(err))
        if fleet.several:
            return report_answers(args, "rollback", fleet.environment, answers, out, err,
                                  lambda done: f"rolled back to {done.tag}; healthy")  # fmt: skip
        return show_rollback(answers[0], args.json, fleet.environment, out)
    if fleet.several and command not in ("promote", "abort"):
        return await execute_fleet(args, fleet, who, out, err)
    return await execute(args, fleet.targets[0], who, out, err)


def show_release(result: ReleaseResult, as_json: bool, out: Console) -> int:
    """One host's release: a line (or --json); a failure goes to main's error handling."""
    if result.failure is not None:
        raise result.failure
    done = result.hosts[0].release
    assert done is not None  # a release that did not fail has its record
    if as_json:
        data = result_json("up", result.environment, ok=True, release=done)
        out.print_json(json.dumps(data))
    elif result.paused:
        out.print(f"{result.environment}: {done.message}")
    else:
        out.print(f"{result.environment}: {done.tag} is running and healthy "
                  f"({done.digest or 'digest unknown'})")  # fmt: skip
    return EXIT_OK


def show_rollback(answer: Answer[Release], as_json: bool, environment: str, out: Console) -> int:
    if answer.failure is not None:
        raise answer.failure
    done = answer.value
    assert done is not None  # a rollback that did not fail has its record
    if as_json:
        out.print_json(json.dumps(result_json("rollback", environment, ok=True, release=done)))
    else:
        out.print(f"{environment}: rolled back to {done.tag}; healthy")
    return EXIT_OK


async def execute_json(
    args: argparse.Namespace, deployer: Deployer, target: Target, out: Console
) -> int:
    """lock and unlock with --json: one result object on stdout."""
    lock: Lock | None = None
    if args.command == "lock":
        lock = await deployer.lock(args.reason)
    else:
        lock = await deployer.unlock()
    data = result_json(args.command, target.environment, ok=True, lock=lock)
    out.print_json(json.dumps(data))
    return EXIT_OK


def show_status(status: Status, as_json: bool, out: Console) -> None:
    if as_json:
        data: dict[str, Any] = asdict(status)
        data["last_release"] = release_json(status.last_release)
        if status.layout.swarm is not None:
            data["layout"]["swarm"]["drift"] = status.layout.swarm.drift
        out.print_json(json.dumps(data))
        return
    health = {True: "healthy", False: "UNHEALTHY", None: "not probed"}[status.healthy]
    out.print(f"{status.environment}: {status.tag or 'nothing running'} — {health}")
    rows = [("image", status.image or "-"), ("digest", status.digest or "-")]
    if status.lock:
        rows.append(("locked", f"by {status.lock.owner} ({status.lock.reason})"))
    if status.last_release:
        last = status.last_release
        rows.append(("last", f"{last.kind} {last.tag} → {last.outcome} at {last.started_at}"))
    if status.unsettled:
        rows.append(("note", f"{len(status.unsettled)} interrupted attempt(s) not yet recorded; "
                     "the next up, rollback or init records them"))
    out.print(fields_table(rows))
    if status.layout.swarm is not None:
        show_swarm(status.layout.swarm, status.layout.warnings, out)
    elif status.strategy != "recreate":
        show_layout(status, out)


def show_swarm(view: SwarmView, warnings: tuple[str, ...], out: Console) -> None:
    desired = "global" if view.desired is None else str(view.desired)
    update = view.update_state or "never updated"
    said = f" ({view.update_message})" if view.update_message else ""
    out.print(f"  swarm: {view.service}: {view.running}/{desired} running; update: {update}{said}")
    for task in view.tasks:
        out.print(f"    {task.name:<16} {task.node:<12} {task.state:<28} "
                  f"{task.digest or task.image}")
        if task.error:
            out.print(f"      error: {task.error}")
    if view.previous_image:
        out.print(f"  previous spec: {view.previous_image}")
    for warning in warnings:
        out.print(f"  warning: {warning}")


def show_layout(status: Status, out: Console) -> None:
    layout = status.layout
    out.print(f"  strategy: {status.strategy}; proxy {layout.proxy}; "
              f"serving: {layout.serving_colour or 'nothing'}")
    for colour in layout.colours:
        mark = "→" if colour.serving else " "
        out.print(f"  {mark} {colour.colour:<5} {colour.tag or '-':<24} {colour.state:<8} "
                  f"{colour.digest or '-'}")
    for warning in layout.warnings:
        out.print(f"  warning: {warning}")
    if layout.canary:
        show_canary(layout.canary, out)


def show_canary(canary: CanaryView, out: Console) -> None:
    state = "paused (promote or abort)" if canary.paused else "in progress"
    weights = ", ".join(f"{colour} {weight} %" for colour, weight in canary.weights.items())
    out.print(f"  canary: step {canary.step}/{canary.steps}, {canary.description}; {state}")
    out.print(f"  weights: {weights}")
    for colour, numbers in canary.numbers.items():
        out.print(f"    {colour:<5} {numbers} since the step began")


def show_history(history: list[Entry], as_json: bool, out: Console) -> None:
    if as_json:
        out.print_json(json.dumps([json.loads(entry.to_line()) for entry in history]))
        return
    out.print(history_table(history))


def main(
    argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
    prog: str = "python -m deploy",
) -> int:
    quiet_ssh_library()
    args = build_parser(prog).parse_args(argv)
    out = Console(highlight=False, soft_wrap=True, markup=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    environ = os.environ if environ is None else environ
    if args.command == "render":  # reaches no host: needs none of the <ENV>_* connection settings
        return render(args, out, err)
    try:
        declaration = read_declaration(find_declaration(Path.cwd()))
        fleet = load_fleet(args.environment, environ, declaration)
    except (ConfigError, InvalidInput, DeclarationError) as error:
        err.print(f"error: {error}")
        json_failure(args, args.environment, error, out)
        return EXIT_USAGE
    target = fleet.targets[0]
    if args.command == "doctor":
        return doctor(fleet, args.json, out)
    try:
        return anyio.run(partial(execute_any, environ=environ), args, fleet,
                         who_deploys(environ), out, err)  # fmt: skip
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except DeployError as error:
        err.print(f"error: {error}")
        json_failure(args, target.environment, error, out)
        return EXIT_REFUSED if error.refused else EXIT_FAILED


def json_failure(
    args: argparse.Namespace, environment: str, error: Exception, out: Console
) -> None:
    """With --json, a failure is a result object too (ok false, the error)."""
    if getattr(args, "json", False) and args.command not in ("status", "history"):
        command = "up" if args.command == "deploy" else args.command
        out.print_json(json.dumps(result_json(command, environment, ok=False, error=str(error))))


def run() -> None:
    """Entry point of `python -m deploy` and the console script: help and errors name the
    command typed."""
    typed = os.path.basename(sys.argv[0]) if sys.argv else ""
    sys.exit(main(prog="python -m deploy" if typed in ("", "__main__.py", "-c") else typed))


if __name__ == "__main__":
    run()
