"""Pure: the doctor's verdicts — command output in, PASS/WARN/FAIL with a message and fix out."""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploy import commands as cmd
from shipyard.declaration import DEFAULT_HEALTH_PATH, DEFAULT_NAME


@dataclass(frozen=True, slots=True)
class Output:
    """What one command printed, its exit status, and the deployer's clock around it."""

    exit_status: int
    stdout: str
    stderr: str = ""
    started: float = 0.0
    finished: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def said(self) -> str:
        """The last line of stderr (or stdout): the part worth quoting."""
        lines = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return lines[-1][:200] if lines else f"exit {self.exit_status}"


@dataclass(frozen=True, slots=True)
class Facts:
    """What the checks know of the target, and what earlier checks found out."""

    environment: str
    username: str
    app_path: str
    compose_choice: str = "auto"
    tool: tuple[str, ...] = cmd.COMPOSE_V2
    image: str = ""
    swarm_service: str = ""  # <ENV>_TARGET=swarm: STACK_SERVICE (empty: the compose target)
    converge_timeout: float = 300.0  # an update older than this is stuck

    @property
    def prefix(self) -> str:
        return self.environment.upper()


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict: level (PASS, WARN or FAIL), what was seen, and what to do about it."""

    level: str
    message: str
    fix: str = ""


def passed(message: str) -> Judgement:
    return Judgement("PASS", message)


def warned(message: str, fix: str) -> Judgement:
    return Judgement("WARN", message, fix)


def failed(message: str, fix: str) -> Judgement:
    return Judgement("FAIL", message, fix)


# -- ssh and health (their I/O is in deploy/doctor/runner.py) -----------------------------------

SSH_FIXES = {
    "HostKeyNotVerifiable": "Check that this is the right host (ssh-keyscan -p PORT HOST on a "
    "trusted network), then put its real key in {prefix}_KNOWN_HOSTS.",
    "PermissionDenied": "Add the public half of {prefix}_SSH_KEY to ~{user}/.ssh/"
    "authorized_keys on the host.",
}
SSH_UNREACHABLE = (
    "Check {prefix}_HOST and {prefix}_SSH_PORT, that sshd runs on the host and that no "
    "firewall drops the port."
)


def ssh_verdict(cause: str | None, message: str, facts: Facts) -> Judgement:
    """`cause`: the class name of what refused the connection; None when it succeeded."""
    if cause is None:
        return passed(message)
    fix = SSH_FIXES.get(cause, SSH_UNREACHABLE)
    return failed(message, fix.format(prefix=facts.prefix, user=facts.username))


def health_verdict(
    ok: bool, detail: str, port: int, facts: Facts, path: str = DEFAULT_HEALTH_PATH,
    service: str = DEFAULT_NAME,
) -> Judgement:
    """The declared health `path` on the host's health port, as `status` probes it."""
    if ok:
        return passed(f"127.0.0.1:{port} on the host answers {path}: {detail}")
    return failed(
        f"127.0.0.1:{port} on the host does not answer {path} ({detail})",
        f"In {facts.app_path} run `docker compose ps` and `docker compose logs {service}`; "
        f"deploy a release, or fix {facts.prefix}_HEALTH_PORT if the app listens elsewhere "
        "(shipyard.toml's health and port say what a healthy answer is).",
    )


# -- docker and compose --------------------------------------------------------------------


def docker_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    done = outputs[0]
    if done.ok:
        return passed(f"{facts.username} reaches Docker Engine {done.stdout.strip()}")
    if "permission denied" in done.said().lower():
        return failed(
            f"{facts.username} may not use the Docker socket: {done.said()}",
            f"sudo usermod -aG docker {facts.username} on the host, then reconnect (the "
            "deployer never uses sudo).",
        )
    if done.exit_status == 127:
        return failed("`docker` is not installed", "Install Docker Engine on the host.")
    return failed(
        f"Docker Engine does not answer: {done.said()}",
        "Start it: sudo systemctl start docker (and enable it).",
    )


def parse_compose_tool(stdout: str) -> tuple[str, ...] | None:
    kind = stdout.strip().split(" ", 1)[0]
    return {"v2": cmd.COMPOSE_V2, "v1": cmd.COMPOSE_V1}.get(kind)


def compose_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    done = outputs[0]
    kind, _, version = done.stdout.strip().partition(" ")
    if done.ok and kind == "v2":
        return passed(f"docker compose {version}")
    if done.ok and kind == "v1":
        return passed(f"docker-compose {version} (v1, end of life: v2 is recommended)")
    wanted = {
        "auto": "Neither `docker compose` nor `docker-compose`",
        "v2": "`docker compose`",
        "v1": "`docker-compose`",
    }[facts.compose_choice]
    return failed(
        f"{wanted} works for {facts.username}",
        "Install the Compose v2 plugin (docker-compose-plugin) on the host, or set "
        f"{facts.prefix}_COMPOSE to the one it has.",
    )


# -- the app folder ------------------------------------------------------------------------


def app_folder_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    done = outputs[0]
    if done.ok:
        return passed(f"{facts.app_path} exists")
    what = {3: "does not exist", 4: f"cannot be entered by {facts.username}"}
    return failed(
        f"{facts.app_path} {what.get(done.exit_status, done.said())}",
        f"Create it (owned by {facts.username}) with the compose file and .env, or fix "
        f"{facts.prefix}_APP_PATH.",
    )


def files_present(outputs: tuple[Output, ...]) -> list[str]:
    return outputs[0].stdout.split()


def compose_file_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    found = [name for name in files_present(outputs) if name in cmd.COMPOSE_FILES]
    if found:
        return passed(f"{facts.app_path}/{found[0]}")
    return failed(
        f"no compose file in {facts.app_path} (looked for {', '.join(cmd.COMPOSE_FILES)})",
        f"Copy the product's docker-compose.yml to {facts.app_path}.",
    )


def env_file_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    if cmd.ENV_FILE in files_present(outputs):
        return passed(f"{facts.app_path}/{cmd.ENV_FILE}")
    return failed(
        f"no {cmd.ENV_FILE} in {facts.app_path}",
        f"Create {facts.app_path}/.env with REGISTRY, REPOSITORY_OWNER and "
        "IMAGE_NAME (the deployer writes IMAGE_TAG there itself).",
    )


IMAGE_LINE = re.compile(r"^\s*image:\s*(.+)$", re.MULTILINE)
USES_IMAGE_TAG = re.compile(r"\$\{?IMAGE_TAG\b")


def image_tag_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    images = [value.strip() for value in IMAGE_LINE.findall(outputs[0].stdout)]
    if any(USES_IMAGE_TAG.search(value) for value in images):
        return passed("the image: line uses ${IMAGE_TAG}")
    seen = f" (image: {images[0]})" if images else " (no image: line)"
    return failed(
        f"the compose file does not use IMAGE_TAG{seen}: deploys would change nothing",
        "Write the service's image as ${REGISTRY}/${REPOSITORY_OWNER}/${IMAGE_NAME}:"
        "${IMAGE_TAG:-latest}.",
    )


def parse_compose_images(stdout: str) -> list[str]:
    """Image names from `config --images` (one a line) or `config` (its image: lines)."""
    if IMAGE_LINE.search(stdout):
        return [value.strip() for value in IMAGE_LINE.findall(stdout)]
    return [line.strip() for line in stdout.splitlines() if line.strip()]


def compose_config_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    done = outputs[0]
    images = parse_compose_images(done.stdout) if done.ok else []
    if images:
        return passed(f"the service's image is {images[0]}")
    return failed(
        f"Compose cannot read the app's configuration: {done.said()}",
        f"Run `docker compose config` in {facts.app_path} on the host and fix the "
        "file or variable it names.",
    )


# -- the registry --------------------------------------------------------------------------


def registry_of(image: str) -> str:
    """Docker's rule: the first component is a registry if it has '.' or ':' or is localhost."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def registry_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    credentials, manifest = outputs
    registry = registry_of(facts.image)
    stored = "credentials stored" if credentials.stdout.strip() else "no credentials stored"
    said = manifest.said()
    if manifest.ok:
        how = " over plain HTTP" if "plain-http" in manifest.stdout else ""
        return passed(f"{facts.image}: manifest reachable{how} ({stored} for {registry})")
    login = f"docker login {registry} as {facts.username} on the host"
    if re.search(r"unauthori[sz]ed|denied|authentication required", said, re.IGNORECASE):
        return failed(f"{registry} refuses {facts.username} ({stored}): {said}", login + ".")
    if re.search(r"no such manifest|manifest unknown|not found", said, re.IGNORECASE):
        return warned(
            f"{registry} answers ({stored}) but has no {facts.image}: {said}",
            "A rollback to this release would fail: push it again, or deploy a tag that exists.",
        )
    return failed(
        f"the host cannot reach {registry}: {said}",
        f"Check REGISTRY in {facts.app_path}/.env, the host's DNS and firewall; for a plain-HTTP "
        "registry add it to insecure-registries in /etc/docker/daemon.json.",
    )
