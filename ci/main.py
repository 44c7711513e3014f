"""CLI: `dagger run python ci/main.py [STAGE...]`, `plan`, `report`; main(argv) -> int."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python ci/main.py`: import the package, not the folder
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from rich.console import Console

from ci.context import RunContext, detect_context
from ci.errors import CiError, ContextError, PlanError
from ci.plan import ReleasePlan, plan_release

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ci/main.py", description="Plan and run the release pipeline."
    )
    commands = parser.add_subparsers(dest="command")
    plan = commands.add_parser("plan", help="print the release plan; no engine, no network")
    _add_context_flags(plan)
    plan.add_argument("--json", action="store_true", help="print the stable JSON form")
    return parser


def _add_context_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", help="git ref, e.g. refs/heads/main (default: detected)")
    parser.add_argument("--sha", help="40-hex commit id (default: detected)")
    parser.add_argument("--event", help="GitHub event name (default: detected, else push)")


def resolve_plan(args: argparse.Namespace) -> ReleasePlan:
    """Plan from the flags, filling what they leave out from the detected context."""
    detected: RunContext | None = None
    if not (args.ref and args.sha):
        detected = detect_context()
    ref = args.ref or (detected.ref if detected else "")
    sha = args.sha or (detected.sha if detected else "")
    event = args.event or (detected.event if detected else "push")
    return plan_release(ref, sha, event)


def describe_plan(plan: ReleasePlan) -> str:
    """A short human summary of a plan."""
    if plan.action == "promote":
        image = f"promote {plan.source_tag} → {', '.join(plan.tags)} (same digest, no rebuild)"
    elif plan.tags:
        image = f"build and publish {', '.join(plan.tags)}"
    else:
        image = "build and test only; nothing published"
    lines = [
        f"ref:         {plan.ref} ({plan.event})",
        f"commit:      {plan.sha}",
        f"version:     {plan.version}",
        f"stages:      {' → '.join(plan.stages)}",
        f"image:       {image}",
        f"deploy:      {plan.environment or 'nothing'}",
    ]
    return "\n".join(lines)


def command_plan(args: argparse.Namespace, console: Console) -> int:
    plan = resolve_plan(args)
    if args.json:
        console.out(json.dumps(plan.to_json(), indent=2), highlight=False)
    else:
        console.out(describe_plan(plan), highlight=False)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if args.command == "plan":
            return command_plan(args, console)
        errors.print("usage: ci/main.py plan [--ref REF] [--sha SHA] [--event EVENT] [--json]")
        return EXIT_USAGE
    except (PlanError, ContextError) as error:
        errors.print(f"error: {error}", markup=False)
        return EXIT_USAGE
    except CiError as error:
        errors.print(f"error: {error}", markup=False)
        return EXIT_FAILED


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
