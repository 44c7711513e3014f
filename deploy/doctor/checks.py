"""Pure: the doctor's checks as data (a command, a verdict on its output, the fix)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from deploy import commands as cmd
from deploy.commands import Command
from deploy.doctor.state import clock_verdict, disk_verdict, lock_verdict
from deploy.doctor.verdicts import (
    Facts,
    Judgement,
    Output,
    app_folder_verdict,
    compose_config_verdict,
    compose_file_verdict,
    compose_verdict,
    docker_verdict,
    env_file_verdict,
    image_tag_verdict,
    parse_compose_images,
    parse_compose_tool,
    registry_of,
    registry_verdict,
)

SCHEMA_VERSION = 1


class Level(StrEnum):
    """How a check ended; only FAIL makes `doctor` exit 1."""

    PASS = "PASS"  # noqa: S105 (a verdict, not a password)
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"  # not run: a check it needs did not pass


@dataclass(frozen=True, slots=True)
class Check:
    """One thing to verify: commands built from what is known, a verdict on their output."""

    name: str
    title: str
    commands: Callable[[Facts], tuple[Command, ...]]
    verdict: Callable[[tuple[Output, ...], Facts], Judgement]
    needs: tuple[str, ...] = ()
    learn: Callable[[Facts, tuple[Output, ...]], Facts] | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report."""

    check: str
    title: str
    level: Level
    message: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class HostReport:
    """Every finding for one host."""

    host: str
    port: int
    findings: tuple[Finding, ...] = field(default=())
    app_path: str = ""
    label: str = ""  # how outputs name the host (host:port, with the app path if shared)

    @property
    def ok(self) -> bool:
        return all(finding.level is not Level.FAIL for finding in self.findings)


# -- commands (argv tuples; quoted once, in commands.shell_line) ---------------------------


def docker_server_version(_: Facts) -> tuple[Command, ...]:
    return (Command(("docker", "version", "--format", "{{.Server.Version}}")),)


def compose_probe(facts: Facts) -> tuple[Command, ...]:
    """Prints `v2 VERSION` or `v1 VERSION` for the first Compose that answers."""
    tries = {
        "v2": ['v=$(docker compose version --short 2>&1) && echo "v2 $v" && exit 0'],
        "v1": ['v=$(docker-compose version --short 2>&1) && echo "v1 $v" && exit 0'],
    }
    wanted = ["v2", "v1"] if facts.compose_choice == "auto" else [facts.compose_choice]
    script = "; ".join([line for name in wanted for line in tries[name]] + ["exit 1"])
    return (Command(("sh", "-c", script)),)


def app_folder_listing(facts: Facts) -> tuple[Command, ...]:
    """Exit 3 without the folder, 4 when it cannot be entered; else the files present."""
    names = " ".join((*cmd.COMPOSE_FILES, cmd.ENV_FILE))
    script = (
        'test -d "$1" || exit 3; cd "$1" || exit 4; '
        f'for f in {names}; do test -f "$f" && echo "$f"; done; exit 0'
    )
    return (Command(("sh", "-c", script, "doctor", facts.app_path)),)


def compose_file_text(facts: Facts) -> tuple[Command, ...]:
    """The compose file Compose would pick (its first name in COMPOSE_FILES order)."""
    names = " ".join(cmd.COMPOSE_FILES)
    script = f'cd "$1" && for f in {names}; do test -f "$f" && exec cat "$f"; done; exit 3'
    return (Command(("sh", "-c", script, "doctor", facts.app_path)),)


def compose_images(facts: Facts) -> tuple[Command, ...]:
    """The image names Compose resolves from the compose file and .env (nothing pulled)."""
    extra = ("--images",) if facts.tool == cmd.COMPOSE_V2 else ()
    return (cmd.compose(facts.tool, facts.app_path, "config", *extra),)


def registry_probe(facts: Facts) -> tuple[Command, ...]:
    """Whether credentials are stored for the registry (names only, never the secrets), and
    whether the image's manifest answers: over TLS, else over plain HTTP (the docker CLI skips
    plain HTTP without --insecure even where the daemon allows it, as for 127.0.0.0/8)."""
    registry = registry_of(facts.image)
    credentials = (
        'grep -o -F -e "\\"$1\\"" -e \'"credsStore"\' -e \'"credHelpers"\' '
        '"${DOCKER_CONFIG:-$HOME/.docker}/config.json"; exit 0'
    )
    manifest = (
        'docker manifest inspect "$1" >/dev/null 2>&1 && echo tls && exit 0; '
        'docker manifest inspect --insecure "$1" >/dev/null && echo plain-http'
    )
    return (
        Command(("sh", "-c", credentials, "doctor", registry)),
        Command(("sh", "-c", manifest, "doctor", facts.image)),
    )


def docker_root_free_space(_: Facts) -> tuple[Command, ...]:
    script = (
        'root=$(docker info --format "{{.DockerRootDir}}" 2>/dev/null); '
        'test -n "$root" || root=/; echo "$root"; df -Pk "$root"'
    )
    return (Command(("sh", "-c", script)),)


def host_time(_: Facts) -> tuple[Command, ...]:
    return (Command(("date", "+%s.%N")),)


def lock_file(facts: Facts) -> tuple[Command, ...]:
    script = 'test -e "$1" || exit 3; cat "$1"'
    return (Command(("sh", "-c", script, "doctor", f"{facts.app_path}/{cmd.LOCK_FILE}")),)


# -- what a check teaches the next ones ---------------------------------------------------


def learn_tool(facts: Facts, outputs: tuple[Output, ...]) -> Facts:
    return replace(facts, tool=parse_compose_tool(outputs[0].stdout) or facts.tool)


def learn_image(facts: Facts, outputs: tuple[Output, ...]) -> Facts:
    images = parse_compose_images(outputs[0].stdout)
    return replace(facts, image=images[0] if images else facts.image)


# -- the checks, in report order (ssh and health are run by deploy/doctor/runner.py) ------------

SSH = ("ssh", "SSH reachable, host key matches")
HEALTH = ("health", "health port answers")

CHECKS: tuple[Check, ...] = (
    Check("docker", "docker without sudo", docker_server_version, docker_verdict),
    Check("compose", "Compose v2 or v1", compose_probe, compose_verdict, learn=learn_tool),
    Check("app_folder", "app folder", app_folder_listing, app_folder_verdict),
    Check("compose_file", "compose file", app_folder_listing, compose_file_verdict,
          needs=("app_folder",)),
    Check("env_file", ".env file", app_folder_listing, env_file_verdict, needs=("app_folder",)),
    Check("image_tag", "compose file uses IMAGE_TAG", compose_file_text, image_tag_verdict,
          needs=("compose_file",)),
    Check("compose_config", "compose config resolves", compose_images, compose_config_verdict,
          needs=("compose", "compose_file", "env_file"), learn=learn_image),
    Check("registry", "registry: login and manifest", registry_probe, registry_verdict,
          needs=("compose_config",)),
    Check("disk", "free disk for a pull", docker_root_free_space, disk_verdict),
    Check("clock", "clock skew", host_time, clock_verdict),
    Check("lock", "deploy lock", lock_file, lock_verdict, needs=("app_folder",)),
)  # fmt: skip

ORDER = (SSH[0], *(check.name for check in CHECKS[:-3]), HEALTH[0], "disk", "clock", "lock")


def finding(name: str, title: str, judgement: Judgement) -> Finding:
    level = Level(judgement.level)
    fix = judgement.fix if level in (Level.WARN, Level.FAIL) else ""
    return Finding(name, title, level, judgement.message, fix)


def blocked_by(check: Check, done: dict[str, Finding]) -> str | None:
    """The first needed check that did not pass (so this one cannot run), or None."""
    for need in check.needs:
        if need in done and done[need].level not in (Level.PASS, Level.WARN):
            return need
    return None


def skipped(name: str, title: str, because: str) -> Finding:
    return Finding(name, title, Level.SKIP, f"not run: `{because}` did not pass")


def ordered(findings: list[Finding]) -> tuple[Finding, ...]:
    rank = {name: index for index, name in enumerate(ORDER)}
    return tuple(sorted(findings, key=lambda found: rank.get(found.check, len(rank))))


def exit_code(reports: list[HostReport]) -> int:
    return 0 if all(report.ok for report in reports) else 1


def report_json(environment: str, reports: list[HostReport]) -> dict[str, Any]:
    """The `--json` document (schema described in docs/deploy.md, versioned by `schema`)."""
    return {
        "schema": SCHEMA_VERSION,
        "environment": environment,
        "ok": exit_code(reports) == 0,
        "hosts": [
            {
                "host": report.host,
                "port": report.port,
                "app_path": report.app_path,
                "ok": report.ok,
                "checks": [
                    {"check": f.check, "title": f.title, "level": f.level.value,
                     "message": f.message, "fix": f.fix}
                    for f in report.findings
                ],
            }
            for report in reports
        ],
    }  # fmt: skip
