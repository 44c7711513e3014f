"""CLI: `dagger run python ci/main.py [run] [STAGE...]`, `plan`, `config`, `report`, `loadtest`,
`verify`, `sbom`."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

if __package__ in (None, ""):  # run as `python ci/main.py`: import the package, not the folder
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import anyio
from rich.console import Console

from ci.context import RunContext, commit_time, detect_context
from ci.errors import CiError, ContextError, PlanError
from ci.notify import RunSummary, notify
from ci.plan import VERIFY, ReleasePlan, Stage, plan_release
from ci.runner import PipelineRunner, RunOutcome
from ci.scans.report import report_main
from ci.settings import DAGGER_VERSION, Settings, SettingsError, load_settings
from ci.stages.context import StageContext
from ci.stages.image import check_build
from ci.stages.loadtest import record_summary, run_gate, summary_text
from ci.supply_commands import EXIT_USAGE as SUPPLY_EXIT_USAGE
from ci.supply_commands import UsageError, command_sbom, command_verify
from ci.supply_commands import add_commands as add_supply_commands
from deploy.host.remote import quiet_ssh_library
from loadtest.config import add_flags, resolve
from loadtest.errors import ConfigError
from loadtest.thresholds import EXIT_USAGE as LOADTEST_EXIT_USAGE
from shipyard.declaration import load_declaration
from shipyard.errors import DeclarationError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ROOT = Path(__file__).resolve().parent.parent
STAGE_NAMES = [stage.value for stage in Stage]
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


COMMANDS = ("run", "plan", "config", "report", "loadtest", "verify", "sbom")


def _add_context_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", help="git ref, e.g. refs/heads/main (default: detected)")
    parser.add_argument("--sha", help="40-hex commit id (default: detected)")
    parser.add_argument("--event", help="GitHub event name (default: detected, else push)")


def program_name() -> str:
    """What the user typed: `python ci/main.py`, or a console script's own name."""
    invoked = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "ci/main.py"
    return "python ci/main.py" if invoked in ("main.py", "-c", "") else invoked


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or program_name(),
        description="The release pipeline. `run` (the default: `ci/main.py [STAGE...]`) runs "
        "under `dagger run`; `plan` and `report` need no engine.",
    )
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {version('shipyard')} (Dagger SDK {DAGGER_VERSION})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run the plan's stages, or the STAGEs given (the default command)",
        description="Run the release pipeline (under `dagger run`). Without STAGE, the stages "
        "the release plan calls for.",
    )
    _add_context_flags(run)
    run.add_argument("stages", nargs="*", metavar="STAGE",
                     help=f"stages to run: {', '.join(STAGE_NAMES)}")
    run.add_argument("--interactive", "-i", action="store_true",
                     help="open a shell where the failed command ran, to re-run it by hand")
    plan = commands.add_parser("plan", help="print the release plan; no engine, no network",
                               description="Print the release plan; no engine, no network.")
    _add_context_flags(plan)
    plan.add_argument("--json", action="store_true", help="print the stable JSON form (schema 1)")
    config = commands.add_parser(
        "config", help="print the service declaration (shipyard.toml) with its defaults",
        description="Print the effective service declaration: shipyard.toml at the repository "
        "root, every key not given there at its default; no engine, no network.",
    )
    config.add_argument("--json", action="store_true", help="print it as one JSON object")
    report = commands.add_parser(
        "report", help="re-render the scan summary and gate verdict from saved reports",
        description="Re-render the scan summary and gate verdict from saved reports.",
    )
    report.add_argument("files", nargs="+", help="bandit/pip-audit/safety/gitleaks reports")
    report.add_argument("--allowlist",
                        help="accepted findings (default: security/allowlist.toml)")
    report.add_argument("--json", action="store_true",
                        help="print the combined findings document (schema shipyard-security/1)")
    loadtest = commands.add_parser(
        "loadtest", help="run the load-test gate alone against --url; no engine",
        description="Run the load-test gate (Locust, in a process of its own) against --url and "
        "judge it. Exit codes: 0 passed, 1 error (unreachable, nothing measured), 2 bad flag or "
        "variable, 10 failure ratio, 11 p95, 12 p99 (docs/pipeline.md, \"Load-test gate\"). The "
        "`loadtest` stage of a staging plan runs with `run loadtest`.",
    )
    add_flags(loadtest)
    add_supply_commands(commands)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """`ci/main.py [STAGE...]` stays the short form of `ci/main.py run [STAGE...]`."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    top_level = {"-h", "--help", "--version"}.intersection(argv[:1])
    if first not in COMMANDS and not top_level:
        argv = ["run", *argv]
    return build_parser().parse_args(argv)


def resolve_plan(args: argparse.Namespace) -> ReleasePlan:
    """Plan from the flags, filling what they leave out from the detected context.

    A flag given empty (`--ref "$UNSET"`) is refused, never taken as "detect it".
    """
    for flag in ("ref", "sha", "event"):
        value = getattr(args, flag)
        if value is not None and not value.strip():
            raise PlanError(
                f"--{flag} is empty: pass a value, or leave the flag out to detect it "
                "(is a variable unset in your script?).",
                value=value,
            )
    detected: RunContext | None = None
    if args.ref is None or args.sha is None:
        detected = detect_context(repo=ROOT)
    ref = args.ref if args.ref is not None else (detected.ref if detected else "")
    sha = args.sha if args.sha is not None else (detected.sha if detected else "")
    event = args.event if args.event is not None else (detected.event if detected else "push")
    return plan_release(ref, sha, event)


def source_date_epoch(settings: Settings, plan: ReleasePlan, say: Callable[[str], None]) -> int:
    """SOURCE_DATE_EPOCH, else the commit's time; never the wall clock (same commit, same image)."""
    if settings.source_date_epoch is not None:
        return settings.source_date_epoch
    found = commit_time(ROOT, plan.sha)
    if found is None:
        say(f"commit {plan.sha[:12]} is not in this checkout: image timestamps are set to "
            "1970-01-01 (set SOURCE_DATE_EPOCH to the commit's time to record it).")
        return 0
    return found


def choose_stages(plan: ReleasePlan, asked: list[str]) -> tuple[Stage, ...]:
    """The plan's stages, or the asked ones when the plan allows them (checks always do)."""
    if not asked:
        return plan.stages
    unknown = [name for name in asked if name not in STAGE_NAMES]
    if unknown:
        raise PlanError(
            f"Stage {unknown[0]!r} does not exist: choose from {', '.join(STAGE_NAMES)}.",
            value=unknown[0],
        )
    chosen = tuple(Stage(name) for name in dict.fromkeys(asked))
    for stage in chosen:
        if stage not in plan.stages and stage not in VERIFY:
            raise PlanError(
                f"Stage {stage.value!r} is not part of the plan for {plan.ref} "
                f"(its stages: {', '.join(plan.stages)}); run `ci/main.py plan` to see why.",
                value=stage.value,
            )
    return tuple(stage for stage in Stage if stage in chosen)


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


class Output:
    """Terminal output with every configured secret scrubbed."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self.out = Console(highlight=False, soft_wrap=True, markup=False)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
        self.secrets = [secret for secret in (secrets or []) if secret]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def say(self, text: str) -> None:
        self.err.print(self.scrub(text))

    def print(self, text: str) -> None:
        self.out.print(self.scrub(text))


def command_plan(args: argparse.Namespace, output: Output) -> int:
    plan = resolve_plan(args)
    output.print(json.dumps(plan.to_json(), indent=2) if args.json else describe_plan(plan))
    return EXIT_OK


def command_config(args: argparse.Namespace, output: Output) -> int:
    declaration = load_declaration(ROOT)
    data = declaration.model_dump(mode="json")
    output.print(json.dumps(data, indent=2) if args.json else "\n".join(flat_lines(data)))
    return EXIT_OK


def flat_lines(data: object, prefix: str = "") -> list[str]:
    """`{"health": {"path": "/health"}}` → `health.path = "/health"`; tables in lists indexed."""
    if isinstance(data, dict) and data:
        return [line for key, value in data.items()
                for line in flat_lines(value, f"{prefix}.{toml_key(key)}" if prefix
                                       else toml_key(key))]  # fmt: skip
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        return [line for index, item in enumerate(data)
                for line in flat_lines(item, f"{prefix}[{index}]")]  # fmt: skip
    return [f"{prefix} = {json.dumps(data)}"]


def toml_key(key: str) -> str:
    """A bare key as TOML writes it, or a quoted one (`"/health"`)."""
    return key if BARE_KEY.fullmatch(key) else json.dumps(key)


def command_report(args: argparse.Namespace) -> int:
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    return report_main(args.files, today=datetime.now(UTC).date(), step_summary_path=summary,
                       allowlist_path=args.allowlist, as_json=args.json)


def command_loadtest(args: argparse.Namespace, output: Output) -> int:
    """The gate alone: its own exit codes, its report under reports/loadtest by default."""
    settings = load_settings(os.environ, ROOT)
    flags = {name: value for name, value in vars(args).items() if name != "command"}
    if flags.get("reports") is None and not os.environ.get("LOADTEST_REPORTS", "").strip():
        flags["reports"] = str(settings.reports / "loadtest")
    try:
        config = resolve(flags, os.environ)
    except ConfigError as error:
        output.say(f"error: {error}")
        return LOADTEST_EXIT_USAGE
    output.say(f"loading {config.url}: {config.users} users for {config.duration_s} s; "
               f"{config.thresholds.describe()}")
    gate = anyio.run(run_gate, config, ROOT)
    if gate.record is not None:
        output.print(json.dumps(gate.record, sort_keys=True))
    output.say(f"load gate {'passed' if gate.exit_code == 0 else 'FAILED'} "
               f"(exit {gate.exit_code}): {gate.verdict}; report in {config.reports}")
    record_summary(settings.step_summary, summary_text(gate, config))
    return gate.exit_code


def command_supply(args: argparse.Namespace, output: Output) -> int:
    """`verify` and `sbom`: the registry's attestations, no engine."""
    settings = load_settings(os.environ, ROOT)
    output.secrets = settings.secrets()
    command = command_verify if args.command == "verify" else command_sbom
    try:
        return anyio.run(command, args, settings, output.print)
    except UsageError as error:
        output.say(f"error: {error}")
        return SUPPLY_EXIT_USAGE


def command_run(args: argparse.Namespace, output: Output) -> int:
    declaration = load_declaration(ROOT)  # refused (exit 2) before anything runs
    check_build(declaration.build)
    settings = load_settings(os.environ, ROOT)
    output.secrets = settings.secrets()
    plan = resolve_plan(args)
    chosen = choose_stages(plan, args.stages)
    output.say(f"{plan.ref} @ {plan.sha[:12]}: {' → '.join(chosen)}")
    ctx = StageContext(plan, settings, ROOT, output.say,
                       source_date_epoch=source_date_epoch(settings, plan, output.say),
                       declaration=declaration)
    runner = PipelineRunner(ctx, chosen, interactive=args.interactive, log_output=sys.stderr)
    outcome = anyio.run(runner.run)
    print_outcome(outcome, output)
    if settings.step_summary:
        with settings.step_summary.open("a", encoding="utf-8") as handle:
            handle.write(stage_table_markdown(plan, outcome))
    output.say(anyio.run(send_notification, plan, settings, chosen, outcome))
    return EXIT_OK if outcome.passed else EXIT_FAILED


def stage_table_markdown(plan: ReleasePlan, outcome: RunOutcome) -> str:
    """The stage table for GitHub's step summary."""
    rows = [f"| {r.stage} | {'passed' if r.passed else '**failed**'} | {r.seconds:.1f}s | "
            f"{r.detail.splitlines()[0] if r.detail else ''} |" for r in outcome.results]
    verdict = "passed" if outcome.passed else "failed"
    return "\n".join([
        f"## Pipeline {verdict}: {plan.ref} @ {plan.sha[:12]}", "",
        "| stage | verdict | time | detail |", "|---|---|---|---|", *rows,
        *(["", f"Digest: `{outcome.digest}`"] if outcome.digest else []), "", "",
    ])


def print_outcome(outcome: RunOutcome, output: Output) -> None:
    for result in outcome.results:
        mark = "passed" if result.passed else "FAILED"
        output.print(f"{result.stage:<8} {mark:<7} {result.seconds:6.1f}s  {result.detail}")
    if outcome.digest:
        output.print(f"digest   {outcome.digest}")
    if outcome.failure is not None:
        output.say(f"error: {outcome.failure}")


async def send_notification(
    plan: ReleasePlan, settings: Settings, chosen: tuple[Stage, ...], outcome: RunOutcome
) -> str:
    url = settings.slack_webhook_url.reveal() if settings.slack_webhook_url else None
    summary = RunSummary(
        ref=plan.ref,
        sha=plan.sha,
        stages=tuple((r.stage, "passed" if r.passed else "failed") for r in outcome.results),
        outcome="passed" if outcome.passed else "failed",
        digest=outcome.digest,
        environment=(
            plan.environment.value if plan.environment and Stage.DEPLOY in chosen else None
        ),
        run_url=settings.run_url,
    )
    return await notify(summary, url)


def main(argv: list[str] | None = None) -> int:
    quiet_ssh_library()
    args = parse(list(sys.argv[1:] if argv is None else argv))
    output = Output()
    try:
        if args.command == "plan":
            return command_plan(args, output)
        if args.command == "config":
            return command_config(args, output)
        if args.command == "report":
            return command_report(args)
        if args.command == "loadtest":
            return command_loadtest(args, output)
        if args.command in ("verify", "sbom"):
            return command_supply(args, output)
        return command_run(args, output)
    except (PlanError, ContextError, SettingsError, DeclarationError) as error:
        output.say(f"error: {error}")
        return EXIT_USAGE
    except CiError as error:
        output.say(f"error: {error}")
        return EXIT_FAILED


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
