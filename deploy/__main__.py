"""CLI: python -m deploy ENV {init,up,status,history,rollback,lock,unlock}."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import anyio
from rich.console import Console

from deploy.config import Target, check_tag, load_target
from deploy.deployer import Deployer, Status
from deploy.errors import ConfigError, DeployError, InvalidInput
from deploy.ledger import Entry, LockEvent, Release, newest
from deploy.remote import connect

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    parser.add_argument("environment", help="staging, production, ... (reads <ENV>_* variables)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="turn the app folder into blue-green (idempotent)")
    up = commands.add_parser("up", aliases=["deploy"], help="deploy an image tag")
    up.add_argument("tag", help="image tag, optionally pinned: TAG@sha256:<digest>")
    status = commands.add_parser("status", help="what runs now, its digest and health")
    status.add_argument("--json", action="store_true")
    status.add_argument("--no-probe", action="store_true", help="skip the health probe")
    history = commands.add_parser("history", help="release history on the host")
    history.add_argument("--json", action="store_true")
    history.add_argument("--limit", type=int, default=20)
    rollback = commands.add_parser("rollback", help="go back to an earlier healthy release")
    rollback.add_argument("--to", help="tag to return to (default: the last other that passed)")
    lock = commands.add_parser("lock", help="hold the deploy lock (maintenance)")
    lock.add_argument("--reason", default="held by hand")
    commands.add_parser("unlock", help="remove the deploy lock, whoever holds it")
    return parser


def who_deploys(environ: Mapping[str, str]) -> str:
    if environ.get("DEPLOY_ACTOR"):
        return environ["DEPLOY_ACTOR"]
    if environ.get("GITHUB_ACTOR"):
        run = environ.get("GITHUB_RUN_ID", "?")
        return f"github:{environ['GITHUB_ACTOR']} (run {run})"
    return f"{getpass.getuser()}@{socket.gethostname()}"


async def execute(
    args: argparse.Namespace, target: Target, who: str, out: Console, err: Console
) -> int:
    for tag in (getattr(args, "tag", None), getattr(args, "to", None)):
        if tag is not None:
            check_tag(tag)  # refused before any SSH connection
    limit: int = getattr(args, "limit", 0)
    newest([], limit)  # a negative --limit is refused before any SSH connection
    async with connect(target) as runner:
        deployer = Deployer(runner, target, who=who, say=lambda line: err.print(f"· {line}"))
        if args.command == "init":
            for change in await deployer.init():
                out.print(f"{target.environment}: {change}")
        elif args.command in ("up", "deploy"):
            release = await deployer.deploy(args.tag)
            out.print(f"{target.environment}: {release.tag} is running and healthy "
                      f"({release.digest or 'digest unknown'})")
        elif args.command == "rollback":
            release = await deployer.rollback(args.to)
            out.print(f"{target.environment}: rolled back to {release.tag}; healthy")
        elif args.command == "status":
            show_status(await deployer.status(probe=not args.no_probe), args.json, out)
        elif args.command == "history":
            show_history(newest(list((await deployer.ledger()).entries), limit), args.json, out)
        elif args.command == "lock":
            held = await deployer.lock(args.reason)
            out.print(f"{target.environment}: locked by {held.owner} ({held.reason})")
        else:
            removed = await deployer.unlock()
            was = f" (was {removed.owner})" if removed else ""
            out.print(f"{target.environment}: unlocked{was}")
    return EXIT_OK


def show_status(status: Status, as_json: bool, out: Console) -> None:
    if as_json:
        data: dict[str, Any] = asdict(status)
        data["last_release"] = _release_json(status.last_release)
        out.print_json(json.dumps(data))
        return
    health = {True: "healthy", False: "UNHEALTHY", None: "not probed"}[status.healthy]
    out.print(f"{status.environment}: {status.tag or 'nothing running'} — {health}")
    out.print(f"  image:  {status.image or '-'}\n  digest: {status.digest or '-'}")
    if status.strategy != "recreate":
        show_layout(status, out)
    if status.lock:
        out.print(f"  locked: by {status.lock.owner} ({status.lock.reason})")
    if status.last_release:
        last = status.last_release
        out.print(f"  last:   {last.kind} {last.tag} → {last.outcome} at {last.started_at}")
    if status.unsettled:
        out.print(f"  note:   {len(status.unsettled)} interrupted attempt(s) not yet recorded; "
                  "the next up, rollback or init records them")


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


def show_history(history: list[Entry], as_json: bool, out: Console) -> None:
    if as_json:
        out.print_json(json.dumps([json.loads(entry.to_line()) for entry in history]))
        return
    for release in history:
        if isinstance(release, LockEvent):
            out.print(show_lock_event(release))
            continue
        out.print(
            f"{release.started_at}  {release.kind:<13} {release.tag:<24} {release.outcome:<12} "
            f"{release.colour or '':<5} {release.deployed_by}  {release.message}"
        )
        if release.phases:
            out.print("    " + "  ".join(f"{name} {sec:.2f}s" for name, sec in release.phases))


def show_lock_event(event: LockEvent) -> str:
    whose = f" (was {event.holder})" if event.holder and event.holder != event.by else ""
    return f"{event.at}  {event.action:<13} {event.reason:<24} by {event.by}{whose}"


def _release_json(release: Release | None) -> dict[str, Any] | None:
    return json.loads(release.to_line()) if release else None


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Console(highlight=False, soft_wrap=True, markup=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    environ = os.environ if environ is None else environ
    try:
        target = load_target(args.environment, environ)
    except (ConfigError, InvalidInput) as error:
        err.print(f"error: {error}")
        return EXIT_USAGE
    try:
        return anyio.run(execute, args, target, who_deploys(environ), out, err)
    except InvalidInput as error:
        err.print(f"error: {error}")
        return EXIT_USAGE
    except DeployError as error:
        err.print(f"error: {error}")
        return EXIT_FAILED


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
