"""Pure: commands as argv tuples (docker compose, files) and parsers of their output."""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass

from shipyard.identity import REVISION_LABEL

COMPOSE_V2 = ("docker", "compose")
COMPOSE_V1 = ("docker-compose",)
SERVICE = "api"
STATE_DIR = ".deploy"
LEDGER_FILE = f"{STATE_DIR}/releases.jsonl"
LOCK_FILE = f"{STATE_DIR}/lock.json"
SWITCH_LOG = f"{STATE_DIR}/switch.log"
ENV_FILE = ".env"
ENV_FILE_MODE = 0o600  # a .env the deployer creates holds secrets: its owner reads it only
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")


@dataclass(frozen=True, slots=True)
class Command:
    """One program to run on the host: argv, working directory, extra environment.

    A command with `log` set runs in its own session with its output in that file, so it
    finishes even when the SSH connection drops halfway.
    """

    argv: tuple[str, ...]
    cwd: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    log: str | None = None


def shell_line(command: Command) -> str:
    """The one place a command becomes shell text: every word quoted with shlex."""
    words = list(command.argv)
    if command.env:
        words = ["env", *(f"{key}={value}" for key, value in command.env), *words]
    line = shlex.join(words)
    if command.log:
        line = f"setsid -w {line} </dev/null >{shlex.quote(command.log)} 2>&1"
    if command.cwd:
        line = f"cd {shlex.quote(command.cwd)} && {line}"
    return line


def compose_version(tool: tuple[str, ...]) -> Command:
    return Command((*tool, "version", "--short"))


def compose(
    tool: tuple[str, ...], app_path: str, *args: str, tag: str | None = None,
    variable: str = "IMAGE_TAG",
) -> Command:
    """`docker compose ARGS` in the app path; `tag` overrides `variable` from .env."""
    env = ((variable, tag),) if tag is not None else ()
    return Command((*tool, *args), cwd=app_path, env=env)


def compose_pull(
    tool: tuple[str, ...], app_path: str, tag: str, service: str = SERVICE,
    variable: str = "IMAGE_TAG",
) -> Command:
    return compose(tool, app_path, "pull", service, tag=tag, variable=variable)


def compose_config_json(
    tool: tuple[str, ...], app_path: str, tag: str, variable: str
) -> Command:
    return compose(tool, app_path, "config", "--format", "json", tag=tag, variable=variable)


def parse_service_image(config_json: str, service: str) -> str:
    """The resolved `image` of one service from `docker compose config --format json`."""
    try:
        model = json.loads(config_json)
    except json.JSONDecodeError as error:
        raise ValueError("`docker compose config --format json` printed no JSON") from error
    services = (model.get("services") if isinstance(model, dict) else None) or {}
    image = (services.get(service) or {}).get("image")
    if not image:
        found = ", ".join(sorted(services)) or "none"
        raise ValueError(
            f"the compose file has no service {service!r} with an image (services: {found})"
        )
    return str(image)


def image_present(image: str) -> Command:
    return Command(("docker", "image", "inspect", "--format", "{{.Id}}", image))


def compose_model(tool: tuple[str, ...], app_path: str) -> Command:
    """The compose file as JSON, variables left as written (what `init` reads)."""
    return compose(tool, app_path, "config", "--no-interpolate", "--format", "json")


def compose_start(tool: tuple[str, ...], app_path: str, service: str) -> Command:
    """Create or start one service without touching the others; survives a dropped SSH."""
    return Command((*tool, "up", "-d", "--no-deps", service), cwd=app_path, log=SWITCH_LOG)


def compose_stop(tool: tuple[str, ...], app_path: str, service: str, timeout: int) -> Command:
    """SIGTERM, then SIGKILL after `timeout` s; the container stays (a switch back needs no
    pull). Survives a dropped SSH connection."""
    argv = (*tool, "stop", "--timeout", str(timeout), service)
    return Command(argv, cwd=app_path, log=f"{STATE_DIR}/drain.log")


NEVER_SERVED_STOP = 1  # seconds a colour that never served gets to stop (not Docker's 10)


def compose_remove(tool: tuple[str, ...], app_path: str, service: str) -> Command:
    return compose(tool, app_path, "rm", "--stop", "--force", service)


def compose_states(tool: tuple[str, ...], app_path: str) -> Command:
    return compose(tool, app_path, "ps", "--all", "--format", "json")


PROXY_REJECTED = 3  # the exit status of proxy_switch when `nginx -t` refuses the config
NGINX_PID = "/run/nginx.pid"  # Debian's and the official image's default (/var/run -> /run)
NGINX_PID_WAIT_TENTHS = 50


def proxy_switch(container_id: str) -> Command:
    """`nginx -t`, then a graceful reload, in one round trip (plain `docker exec`: compose
    would add ~0.3 s to the switch). Exits PROXY_REJECTED when the config is refused. A proxy
    started a moment ago may not have written its master's pid yet (`nginx -s reload` then
    fails with 'invalid PID number ""'): wait for it, up to NGINX_PID_WAIT_TENTHS / 10 s."""
    script = (
        f"i=0; while [ ! -s {NGINX_PID} ] && [ $i -lt {NGINX_PID_WAIT_TENTHS} ]; do "
        "sleep 0.1; i=$((i+1)); done; "
        f"nginx -t -q || exit {PROXY_REJECTED}; exec nginx -s reload"
    )
    return Command(("docker", "exec", container_id, "sh", "-c", script))


def proxy_signal_back(container_id: str, staged: str, live: str) -> Command:
    """Put the staged live.upstream in place (a rename), then a graceful reload by SIGHUP to
    the proxy's main process (nginx is PID 1 in its image) through Docker, then the host's
    clock; one round trip, no `docker exec` (~0.1 s idle, ~0.35 s on a busy host) and no
    `nginx -t`, so only for a config nginx has served already."""
    script = ('mv -f "$2" "$3" && docker kill --signal HUP "$1" >/dev/null && '
              "exec date +%s.%N")  # fmt: skip
    return Command(("sh", "-c", script, "switch-back", container_id, staged, live))


def file_size(path: str) -> Command:
    return Command(("sh", "-c", 'stat -c %s "$1" 2>/dev/null || echo 0', "size", path))


def read_from(path: str, offset: int) -> Command:
    """The bytes of `path` after `offset` (an access log read since a switch)."""
    return Command(("tail", "-c", f"+{offset + 1}", path))


FOLLOW_SLACK = 60  # seconds a followed log may outlive the watch before the host ends it


def follow_from(path: str, offset: int, seconds: float) -> Command:
    """Print the bytes of `path` after `offset`, then its lines as they are written (by name:
    across a rotation), until the SSH channel closes: `cat` waits for the end of stdin and
    then ends `tail`, so the host keeps no stray process. `timeout` ends the whole group
    after `seconds` + FOLLOW_SLACK even if the channel's end never reached the host."""
    script = 'tail -c "+$2" -F -- "$1" 2>/dev/null & t=$!; cat >/dev/null; kill "$t" 2>/dev/null'
    limit = str(math.ceil(seconds) + FOLLOW_SLACK)
    return Command(("timeout", limit, "sh", "-c", script, "follow", path, str(offset + 1)))


def host_clock() -> Command:
    """The host's clock (seconds since the epoch, ns digits where `date` has them): the
    clock nginx's $msec is written on."""
    return Command(("date", "+%s.%N"))


def parse_host_clock(output: str) -> float | None:
    """`date +%s.%N` output → seconds; a `date` without %N (busybox) gives whole seconds."""
    whole, _, fraction = output.strip().partition(".")
    if not whole.isdigit():
        return None
    return float(f"{whole}.{fraction}") if fraction.isdigit() else float(whole)


def make_dirs(app_path: str, *relative: str) -> Command:
    return Command(("mkdir", "-p", *relative), cwd=app_path)


def compose_create(tool: tuple[str, ...], app_path: str, service: str) -> Command:
    return compose(tool, app_path, "up", "--no-start", "--no-deps", service)


def handover(app_path: str, old_id: str, proxy_id: str) -> Command:
    """Hand the public port from the guide's container to the (created) proxy container.

    The old container must not come back (`--restart=no`); SIGTERM makes it close its
    listener at once and finish what it serves; the proxy starts right away (if the port is
    not free yet, nginx exits and Docker's restart policy retries within ~0.1 s); then the old
    container is given 10 s to finish and removed. Survives a dropped SSH connection."""
    script = (
        'docker update --restart=no "$1" >/dev/null && docker kill --signal TERM "$1" '
        '>/dev/null && docker start "$2" >/dev/null && docker stop --timeout 10 "$1" '
        '>/dev/null && docker rm "$1" >/dev/null'
    )
    return Command(("sh", "-c", script, "handover", old_id, proxy_id), cwd=app_path,
                   log=SWITCH_LOG)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ContainerState:
    """One service's container as `docker compose ps --all` shows it."""

    service: str
    state: str  # running, exited, created, ...
    image: str
    container_id: str


def parse_compose_states(output: str) -> dict[str, ContainerState]:
    """`ps --format json` output (JSON lines, or one JSON array on older compose)."""
    text = output.strip()
    entries: list[dict[str, object]] = []
    if text.startswith("["):
        entries = list(json.loads(text))
    else:
        entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {
        str(entry["Service"]): ContainerState(
            str(entry["Service"]), str(entry.get("State", "")), str(entry.get("Image", "")),
            str(entry.get("ID", "")),
        )
        for entry in entries
    }


def compose_up(
    tool: tuple[str, ...], app_path: str, stop_timeout: int | None = None, service: str = SERVICE
) -> Command:
    """Recreate the service from .env; survives a dropped connection (see Command.log).

    `stop_timeout` bounds how long the replaced container may take to stop (a release that
    failed its health check gets little patience)."""
    timeout = ("--timeout", str(stop_timeout)) if stop_timeout is not None else ()
    base = compose(tool, app_path, "up", "-d", "--remove-orphans", *timeout, service)
    return Command(base.argv, cwd=app_path, log=SWITCH_LOG)


def compose_container_id(tool: tuple[str, ...], app_path: str, service: str = SERVICE) -> Command:
    return compose(tool, app_path, "ps", "-q", service)


def compose_any_container(tool: tuple[str, ...], app_path: str, service: str) -> Command:
    """The service's container id, running or exited (a failed release's, for its log)."""
    return compose(tool, app_path, "ps", "--all", "-q", service)


def container_logs(container_id: str, lines: int, *, follow: bool = False) -> Command:
    """The container's last `lines` of output (stdout and stderr, in order); never `inspect`
    or `env`, which would show the environment and its secrets."""
    follow_flag = " --follow" if follow else ""
    script = f'exec docker logs{follow_flag} --tail "$1" "$2" 2>&1'
    return Command(("sh", "-c", script, "logs", str(lines), container_id))


def log_tail(output: str, lines: int, width: int = 300) -> tuple[str, ...]:
    """The last `lines` non-empty lines of a log, each cut to `width` characters."""
    kept = [line.rstrip()[:width] for line in output.splitlines() if line.strip()]
    return tuple(kept[-lines:]) if lines > 0 else ()


def image_repo_digests(image: str) -> Command:
    return Command(("docker", "image", "inspect", "--format", "{{json .RepoDigests}}", image))


def image_revision(image: str) -> Command:
    """The commit an image says it was built from (its OCI revision label)."""
    label = '{{index .Config.Labels "' + REVISION_LABEL + '"}}'
    return Command(("docker", "image", "inspect", "--format", label, image))


def parse_revision(output: str) -> str | None:
    value = output.strip()
    return value if value and value not in ("<no value>", "unknown") else None


def container_image(container_id: str) -> Command:
    return Command(("docker", "inspect", "--format", "{{.Config.Image}}", container_id))


def preflight(app_path: str) -> Command:
    """Exit 0 when the app path is a directory with a compose file; make the state dir."""
    tests = " || ".join(f"test -f {name}" for name in COMPOSE_FILES)
    script = f"cd \"$1\" && ({tests}) && mkdir -p {STATE_DIR}"
    return Command(("sh", "-c", script, "preflight", app_path))


def parse_repo_digest(inspect_output: str, image: str) -> str | None:
    """The `sha256:...` digest of `image` from `docker image inspect` RepoDigests."""
    try:
        digests = json.loads(inspect_output.strip() or "[]") or []
    except json.JSONDecodeError:
        return None
    head, _, last = image.split("@")[0].rpartition("/")
    repository = f"{head}/{last.split(':')[0]}" if head else last.split(":")[0]
    for entry in digests:
        name, _, digest = str(entry).partition("@")
        if name == repository and digest:
            return digest
    return None


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def set_env_value(text: str, key: str, value: str) -> str:
    """The .env text with KEY set to VALUE, every other line kept as it was."""
    lines = text.splitlines()
    pattern = re.compile(rf"\s*{re.escape(key)}\s*=")
    replaced = [f"{key}={value}" if pattern.match(line) else line for line in lines]
    if replaced == lines and not any(pattern.match(line) for line in lines):
        replaced.append(f"{key}={value}")
    return "\n".join(replaced) + "\n"
