"""Pure: environment variables → Target; validation names the variable; secrets masked."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pydantic import JsonValue

from deploy.canary_policy import DEFAULT_STEPS, Step, Thresholds, parse_steps
from deploy.choice import AUTO, STRATEGIES
from deploy.errors import ConfigError, InvalidInput
from deploy.proxy import DEFAULT_COLOUR_PORTS, DEFAULT_PROXY_IMAGE, ColourPorts
from shipyard.declaration import (
    DEFAULT_HEALTH_PATH,
    DEFAULT_NAME,
    DEFAULT_PORT,
    Check,
    Declaration,
    ok_status,
)
from supply.errors import SupplyError
from supply.reference import parse_image

ENVIRONMENT_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")
HOST_PATTERN = re.compile(  # a name or IPv4; an IPv6 address, bare or in balanced brackets
    r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9a-fA-F:.]+\]|[0-9a-fA-F.]*:[0-9a-fA-F:.]*"
)
USER_PATTERN = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
PATH_PATTERN = re.compile(r"/[A-Za-z0-9._/-]{0,255}")
TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
SERVICE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")  # a compose service name


class Secret:
    """A value that never shows itself in repr, str or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """How a release proves it is healthy (N consecutive answers the declaration accepts,
    within a timeout) and that it is the new release (its identity)."""

    port: int = DEFAULT_PORT  # where the host answers: <ENV>_HEALTH_PORT, else the declared port
    path: str = DEFAULT_HEALTH_PATH
    successes: int = 3
    interval: float = 0.5
    timeout: float = 60.0
    statuses: tuple[int, ...] = (200,)
    expect: JsonValue = field(default_factory=ok_status, hash=False)
    identity: str = "health-json"  # or revision-label (shipyard.toml's identity.source)
    identity_field: str = "commit"


def health_contract(declaration: Declaration, port: int, successes: int,
                    timeout: float) -> HealthPolicy:  # fmt: skip
    """The declaration's health contract and identity, probed on the host's `port`."""
    health, identity = declaration.health, declaration.identity
    return HealthPolicy(
        port=port, path=health.path, successes=successes, timeout=timeout,
        statuses=tuple(health.status), expect=health.expect, identity=identity.source,
        identity_field=identity.field,
    )  # fmt: skip


IMAGE_PATTERN = re.compile(r"[a-z0-9][a-z0-9._/:@-]{0,254}")
LISTEN_PATTERN = re.compile(r"(?:127\.0\.0\.1:|\[::1\]:|0\.0\.0\.0:)?[0-9]{1,5}")


@dataclass(frozen=True, slots=True)
class ReleasePolicy:
    """How a release replaces the running one: recreate, or blue-green behind a proxy."""

    strategy: str = AUTO  # unset: blue-green from the first deploy (deploy/choice.py)
    proxy_image: str = DEFAULT_PROXY_IMAGE
    proxy_listen: str = str(DEFAULT_PORT)  # nginx `listen` (the declared port by default)
    drain: float = 30.0  # seconds the old colour gets to finish in-flight requests
    watch: float = 30.0  # seconds the new colour is watched before the old one stops
    colour_ports: ColourPorts = DEFAULT_COLOUR_PORTS  # blue's and green's, on host networking


@dataclass(frozen=True, slots=True)
class CanarySettings:
    """`<ENV>_CANARY_STEPS` and the thresholds each step is judged by."""

    steps: tuple[Step, ...] = parse_steps(DEFAULT_STEPS)
    thresholds: Thresholds = field(default_factory=Thresholds)


@dataclass(frozen=True, slots=True)
class EvidencePolicy:
    """What a release must have shown elsewhere before it reaches this environment."""

    source: str | None = None  # the environment whose ledger must show the digest healthy
    load_gate: str = "auto"  # required, off, or auto: required once the source recorded one


TARGETS = ("compose", "swarm")
PUBLISH_MODES = ("ingress", "host", "host-network")
DOCKER_HOST_PATTERN = re.compile(r"unix:///[A-Za-z0-9._/-]{1,200}|tcp://127\.0\.0\.1:[0-9]{1,5}")


@dataclass(frozen=True, slots=True)
class SwarmSettings:
    """`<ENV>_TARGET=swarm`: the stack, and the `deploy:` section Swarm updates it by."""

    stack: str = DEFAULT_NAME  # `docker stack deploy ... STACK`; the service is STACK_SERVICE
    replicas: int = 2
    parallelism: int = 1  # tasks updated at once
    order: str = "start-first"  # or stop-first (one node on the host network: stop-first)
    delay: int = 5  # seconds between batches
    monitor: int = 15  # seconds a new task is watched after it started
    publish: str = "ingress"  # ingress (routing mesh), host (each node's port), host-network
    converge_timeout: float = 300.0  # seconds the deployer waits for Swarm to finish


@dataclass(frozen=True, slots=True)
class VerifyPolicy:
    """`<ENV>_VERIFY_KEY` and where the images are: with a key, every release's digest must
    carry attestations signed by it before anything is pulled or started."""

    keys: str | None = field(default=None, repr=False)  # PEM text, or file path(s)
    image: str | None = None  # REGISTRY/REPOSITORY the host's compose file pulls
    username: str | None = None
    password: Secret | None = None

    @property
    def required(self) -> bool:
        return self.keys is not None


@dataclass(frozen=True, slots=True)
class Target:
    """One environment's host and how to deploy there."""

    environment: str
    host: str
    port: int
    username: str
    private_key: Secret = field(repr=False)
    known_hosts: str
    app_path: str
    health: HealthPolicy = HealthPolicy()
    lock_wait: float = 60.0
    lock_ttl: float = 30.0  # a deployer's lease: its lock is stale this long after a heartbeat
    compose: str = "auto"
    release: ReleasePolicy = ReleasePolicy()
    service: str = DEFAULT_NAME  # the compose service that runs the app
    app_port: int = DEFAULT_PORT  # the port the app's container listens on (declared)
    # shipyard.toml's [[smoke.checks]]: a new release answers them before users reach it
    checks: tuple[Check, ...] = field(default=(), hash=False)
    smoke_command: tuple[str, ...] = ()  # shipyard.toml's smoke.command, given SMOKE_BASE_URL
    canary: CanarySettings = CanarySettings()
    evidence: EvidencePolicy = EvidencePolicy()
    name: str = ""  # how outputs name this host; host:port unless set
    verify: VerifyPolicy = VerifyPolicy()
    kind: str = "compose"  # <ENV>_TARGET: compose (the strategies) or swarm (a manager node)
    docker_host: str | None = None  # <ENV>_DOCKER_HOST: the engine commands on the host use
    swarm: SwarmSettings = SwarmSettings()

    @property
    def prefix(self) -> str:
        return self.environment.upper()

    @property
    def address(self) -> str:
        """`host:port` (`[::1]:22` for IPv6)."""
        bare = self.host.strip("[]")
        return f"[{bare}]:{self.port}" if ":" in bare else f"{self.host}:{self.port}"

    @property
    def label(self) -> str:
        """How every output names this host: `host:port`, with the app path when two
        entries of `<ENV>_HOSTS` share a host."""
        return self.name or self.address


@dataclass(frozen=True, slots=True)
class Fleet:
    """An environment's hosts (`<ENV>_HOSTS`, or the one `<ENV>_HOST`) and how many switch
    at once."""

    environment: str
    targets: tuple[Target, ...]
    parallel: int = 1
    several: bool = False  # set with <ENV>_HOSTS: commands report per host

    @property
    def prefix(self) -> str:
        return self.environment.upper()


def load_target(
    environment: str, environ: Mapping[str, str], declaration: Declaration | None = None
) -> Target:
    """The one host of an environment (`<ENV>_HOST`, or `<ENV>_HOSTS` naming one host)."""
    fleet = load_fleet(environment, environ, declaration)
    if len(fleet.targets) != 1:
        raise ConfigError(fleet.prefix + "_HOSTS", (
            f"names {len(fleet.targets)} hosts; this command works on one host at a time "
            "(`python -m deploy` works on them all)."))  # fmt: skip
    return fleet.targets[0]


def load_fleet(
    environment: str, environ: Mapping[str, str], declaration: Declaration | None = None
) -> Fleet:
    """Read `<ENV>_HOSTS` (or `<ENV>_HOST`), `_PARALLEL` and each host's Target; what the
    service is (port, health contract, identity) comes from its declaration."""
    declared = declaration or Declaration()
    if not ENVIRONMENT_PATTERN.fullmatch(environment):
        raise InvalidInput(
            f"Environment {environment!r} is not a valid name: use lower-case letters, digits "
            "and '_', e.g. staging or production."
        )
    read = _Reader(environment.upper(), environ)
    hosts = read.optional("HOSTS")
    if hosts is None:
        return Fleet(environment, (single_target(environment, environ, declared),))
    if read.optional("HOST") is not None:
        raise ConfigError(read.name("HOST"), (
            f"is set together with {read.name('HOSTS')}: set {read.name('HOST')} for one host "
            f"or {read.name('HOSTS')} for several, not both."))  # fmt: skip
    targets = named(tuple(host_target(environment, environ, overlay, read.name("HOSTS"), declared)
                          for overlay in host_overlays(read, hosts)))  # fmt: skip
    fleet = Fleet(environment, targets, several=True, parallel=read.integer(
        "PARALLEL", default=len(targets), low=1, high=1000))  # fmt: skip
    if fleet.targets[0].kind == "swarm" and len(targets) > 1:
        raise ConfigError(read.name("HOSTS"), (
            f"names {len(targets)} hosts; {read.name('TARGET')}=swarm deploys through one "
            f"manager node: set {read.name('HOST')} to it (Swarm places the tasks)."))  # fmt: skip
    if fleet.targets[0].release.strategy == "canary" and len(targets) > 1:
        raise ConfigError(read.name("STRATEGY"), (
            f"canary runs on one host; {read.name('HOSTS')} names {len(targets)}. Use "
            "blue-green (each host switches its own proxy) or one host."))  # fmt: skip
    if fleet.targets[0].release.strategy in ("blue-green", AUTO):  # auto: empty hosts become it
        check_shared_ports(targets, read.name("HOSTS"))
    return fleet


def blue_green_ports(target: Target) -> set[int]:
    """The host ports a blue-green app folder takes: its proxy's and its two colours'."""
    return {int(target.release.proxy_listen.rsplit(":", 1)[-1]), *target.release.colour_ports}


def check_shared_ports(targets: tuple[Target, ...], variable: str) -> None:
    """Blue-green entries on the same host (same SSH address) must not share a port."""
    for index, target in enumerate(targets):
        for earlier in targets[:index]:
            shared = blue_green_ports(target) & blue_green_ports(earlier)
            if target.address == earlier.address and shared:
                raise ConfigError(variable, (
                    f"the entries for {earlier.app_path} and {target.app_path} on "
                    f"{target.address} both use port {min(shared)}: give each entry its own "
                    "PROXY_LISTEN and COLOUR_PORTS, e.g. PROXY_LISTEN=8100 "
                    "COLOUR_PORTS=8101/8102 (blue-green is the default from the first "
                    f"deploy; {variable.removesuffix('HOSTS')}STRATEGY=recreate keeps "
                    "recreate)."))  # fmt: skip


def named(targets: tuple[Target, ...]) -> tuple[Target, ...]:
    """Targets that share `host:port` are told apart by their app path in every output."""
    addresses = [target.address for target in targets]
    return tuple(
        replace(target, name=f"{target.address}{target.app_path}")
        if addresses.count(target.address) > 1 else target
        for target in targets
    )  # fmt: skip


HOST_SETTINGS = ("APP_PATH", "COLOUR_PORTS", "HEALTH_PORT", "PROXY_LISTEN", "USERNAME")


def host_overlays(read: _Reader, text: str) -> list[dict[str, str]]:
    """`<ENV>_HOSTS` entries → per host, the variables it sets: `HOST`, `SSH_PORT` and its
    overrides. An entry is `host[:port]` and optional `KEY=VALUE` words."""
    variable, overlays, seen = read.name("HOSTS"), [], set()
    for entry in (part.strip() for part in text.split(",")):
        words = entry.split()
        if not words:
            raise ConfigError(variable, f"{text!r} has an empty entry: write host[:port] "
                                        "entries separated by commas.")  # fmt: skip
        host, port = split_address(words[0], variable, read.optional("SSH_PORT") or "22")
        overlay = {read.name("HOST"): host, read.name("SSH_PORT"): port}
        for word in words[1:]:
            key, equals, value = word.partition("=")
            if not equals or key not in HOST_SETTINGS or not value:
                raise ConfigError(variable, (
                    f"{word!r} in the entry {words[0]!r} is not a per-host setting: write "
                    f"KEY=VALUE with KEY one of {', '.join(HOST_SETTINGS)}."))  # fmt: skip
            overlay[read.name(key)] = value
        identity = (host.strip("[]"), port, overlay.get(read.name("APP_PATH")))
        if identity in seen:
            raise ConfigError(variable, f"{words[0]!r} is named twice with the same app path.")
        seen.add(identity)
        overlays.append(overlay)
    return overlays


def host_target(
    environment: str, environ: Mapping[str, str], overlay: dict[str, str], variable: str,
    declaration: Declaration,
) -> Target:
    """One host's Target; an error in its per-host settings names the `<ENV>_HOSTS` entry."""
    try:
        return single_target(environment, {**environ, **overlay}, declaration)
    except (ConfigError, InvalidInput) as error:
        overridden = [name for name in list(overlay)[2:] if name in str(error)]
        if not overridden:
            raise
        address = f"{overlay[variable[:-1]]}:{overlay[variable[:-5] + 'SSH_PORT']}"
        raise ConfigError(variable, f"in the entry for {address}: {error}") from None


def split_address(text: str, variable: str, default_port: str) -> tuple[str, str]:
    """`host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address → (host, port)."""
    host, port = text, default_port
    if text.startswith("[") and "]:" in text:
        host, port = text.rsplit(":", 1)
    elif text.count(":") == 1:
        host, port = text.split(":")
    check_host(host, variable=variable)
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ConfigError(variable, f"{text!r} has no valid port: write host:PORT, PORT 1-65535.")
    return host, port


def single_target(
    environment: str, environ: Mapping[str, str], declaration: Declaration
) -> Target:
    """Read `<ENV>_HOST`, `_USERNAME`, `_SSH_KEY`, `_SSH_PORT`, `_APP_PATH`, `_KNOWN_HOSTS`..."""
    read = _Reader(environment.upper(), environ)
    return Target(
        environment=environment,
        host=check_host(read.required("HOST"), variable=read.name("HOST")),
        port=read.integer("SSH_PORT", default=22, low=1, high=65535),
        username=read.matching("USERNAME", USER_PATTERN, "a Unix user name"),
        private_key=Secret(read.private_key("SSH_KEY")),
        known_hosts=read.known_hosts("KNOWN_HOSTS"),
        app_path=check_path(read.required("APP_PATH"), variable=read.name("APP_PATH")),
        health=health_contract(
            declaration,
            port=read.integer("HEALTH_PORT", default=declaration.port, low=1, high=65535),
            successes=read.integer("HEALTH_SUCCESSES", default=3, low=1, high=100),
            timeout=float(read.integer("HEALTH_TIMEOUT", default=60, low=1, high=3600)),
        ),
        lock_wait=float(read.integer("LOCK_WAIT", default=60, low=0, high=3600)),
        lock_ttl=float(read.integer("LOCK_TTL", default=30, low=2, high=3600)),
        compose=read.choice("COMPOSE", ("auto", "v2", "v1"), default="auto"),
        release=release_policy(read, declaration.port),
        service=read.optional_matching(
            "SERVICE", SERVICE_PATTERN, "a compose service name (a-z 0-9 _ . -)", declaration.name
        ),
        app_port=declaration.port,
        checks=tuple(declaration.smoke.checks),
        smoke_command=tuple(declaration.smoke.command or ()),
        canary=canary_settings(read),
        evidence=evidence_policy(environment, read),
        verify=verify_policy(read),
        kind=read.choice("TARGET", TARGETS, default="compose"),
        docker_host=read.optional_matching(
            "DOCKER_HOST", DOCKER_HOST_PATTERN, "unix:///PATH or tcp://127.0.0.1:PORT", ""
        ) or None,
        swarm=swarm_settings(read, declaration.name),
    )


def swarm_settings(read: _Reader, name: str) -> SwarmSettings:
    """`<ENV>_STACK`, `_REPLICAS`, `_UPDATE_PARALLELISM`, `_UPDATE_ORDER`, `_UPDATE_DELAY`,
    `_UPDATE_MONITOR`, `_PUBLISH`, `_CONVERGE_TIMEOUT` (read for every target; used by swarm)."""
    default = SwarmSettings()
    return SwarmSettings(
        stack=read.optional_matching("STACK", SERVICE_PATTERN, "a stack name (a-z 0-9 _ . -)",
                                     name.replace("-", "_")),
        replicas=read.integer("REPLICAS", default=default.replicas, low=0, high=1000),
        parallelism=read.integer("UPDATE_PARALLELISM", default=default.parallelism, low=0,
                                 high=1000),
        order=read.choice("UPDATE_ORDER", ("start-first", "stop-first"), default=default.order),
        delay=read.integer("UPDATE_DELAY", default=default.delay, low=0, high=3600),
        monitor=read.integer("UPDATE_MONITOR", default=default.monitor, low=1, high=3600),
        publish=read.choice("PUBLISH", PUBLISH_MODES, default=default.publish),
        converge_timeout=float(read.integer("CONVERGE_TIMEOUT", default=300, low=10, high=7200)),
    )  # fmt: skip


def release_policy(read: _Reader, port: int) -> ReleasePolicy:
    """`<ENV>_STRATEGY`, `_PROXY_IMAGE`, `_PROXY_LISTEN` (default: the declared `port`),
    `_COLOUR_PORTS`, `_DRAIN`, `_WATCH`."""
    listen = read.optional_matching(
        "PROXY_LISTEN", LISTEN_PATTERN, "a port or 127.0.0.1:PORT", str(port))  # fmt: skip
    return ReleasePolicy(
        strategy=read.choice("STRATEGY", STRATEGIES, default=AUTO),
        proxy_image=read.optional_matching(
            "PROXY_IMAGE", IMAGE_PATTERN, "an image reference", DEFAULT_PROXY_IMAGE
        ),
        proxy_listen=listen,
        drain=float(read.integer("DRAIN", default=30, low=0, high=3600)),
        watch=float(read.integer("WATCH", default=30, low=0, high=3600)),
        colour_ports=colour_ports(read, listen),
    )


def colour_ports(read: _Reader, listen: str) -> ColourPorts:
    """`<ENV>_COLOUR_PORTS`: BLUE/GREEN (or BLUE,GREEN outside `<ENV>_HOSTS`, whose entries
    are split on commas), two different ports other than the proxy's."""
    text = read.optional("COLOUR_PORTS")
    if text is None:
        return DEFAULT_COLOUR_PORTS
    words = text.replace(",", "/").split("/")
    ports = [int(w) if w.isascii() and w.isdigit() else 0 for w in map(str.strip, words)]
    default = "/".join(map(str, DEFAULT_COLOUR_PORTS))
    if len(ports) != 2 or not all(1 <= port <= 65535 for port in ports):
        raise ConfigError(read.name("COLOUR_PORTS"), (
            f"{text!r} is not two ports: write BLUE/GREEN, each 1-65535, e.g. {default} (the "
            f"default; in {read.name('HOSTS')} entries only BLUE/GREEN, since commas separate "
            "the hosts)."))  # fmt: skip
    if ports[0] == ports[1]:
        raise ConfigError(read.name("COLOUR_PORTS"), (
            f"{text!r} gives blue and green the same port: both colours run at once during "
            f"a deploy, so give them two different ports, e.g. {default}."))  # fmt: skip
    listen_port = int(listen.rsplit(":", 1)[-1])
    if listen_port in ports:
        raise ConfigError(read.name("COLOUR_PORTS"), (
            f"{text!r} uses {listen_port}, the proxy's port ({read.name('PROXY_LISTEN')} is "
            f"{listen!r}): choose two other ports for the colours."))  # fmt: skip
    return ports[0], ports[1]


def canary_settings(read: _Reader) -> CanarySettings:
    """`<ENV>_CANARY_STEPS`, `_CANARY_MAX_ERROR_RATIO`, `_CANARY_MAX_P95_RATIO`,
    `_CANARY_MIN_REQUESTS` (defaults in deploy/canary_policy.py and docs/deploy.md)."""
    text = read.optional("CANARY_STEPS") or DEFAULT_STEPS
    try:
        steps = parse_steps(text)
    except ValueError as error:
        raise ConfigError(read.name("CANARY_STEPS"), (
            f"{text!r} is refused: {error}. Write WEIGHT:SECONDS steps, a WEIGHT alone to "
            "pause until `promote`, ending with 100, e.g. 10:60,50:60,100."
        )) from None  # fmt: skip
    defaults = Thresholds()
    return CanarySettings(steps, Thresholds(
        max_error_ratio=read.ratio("CANARY_MAX_ERROR_RATIO", defaults.max_error_ratio, high=1.0),
        max_p95_ratio=read.ratio("CANARY_MAX_P95_RATIO", defaults.max_p95_ratio, high=100.0),
        min_requests=read.integer("CANARY_MIN_REQUESTS", default=defaults.min_requests, low=1,
                                  high=1_000_000),
    ))  # fmt: skip


def evidence_policy(environment: str, read: _Reader) -> EvidencePolicy:
    """`<ENV>_EVIDENCE_FROM` (production: staging by default; `none` turns it off) and
    `<ENV>_EVIDENCE_LOAD_GATE` (auto, required, off)."""
    default = "staging" if environment == "production" else "none"
    source = read.optional("EVIDENCE_FROM") or default
    if source != "none" and (not ENVIRONMENT_PATTERN.fullmatch(source) or source == environment):
        raise ConfigError(read.name("EVIDENCE_FROM"), (
            f"{source!r} is not another environment's name (e.g. staging), or none."))  # fmt: skip
    gate = read.choice("EVIDENCE_LOAD_GATE", ("auto", "required", "off"), default="auto")
    return EvidencePolicy(None if source == "none" else source, gate)


def verify_policy(read: _Reader) -> VerifyPolicy:
    """`<ENV>_VERIFY_KEY` (PEM public key text, or comma-separated paths of PEM files), the
    `<ENV>_IMAGE` to look attestations up in, and `<ENV>_REGISTRY_USERNAME`/`_PASSWORD`."""
    keys, image = read.optional("VERIFY_KEY"), read.optional("IMAGE")
    password = read.optional("REGISTRY_PASSWORD")
    if keys is None or image is None:  # a key without an image is refused when verifying
        return VerifyPolicy(keys)
    try:
        ref = parse_image(image)
    except SupplyError as error:
        raise ConfigError(read.name("IMAGE"), str(error)) from None
    if ref.tag or ref.digest:
        raise ConfigError(read.name("IMAGE"), (
            f"{image!r} names a tag or digest: give REGISTRY/REPOSITORY only; the release's "
            "tag and digest are added to it."))  # fmt: skip
    return VerifyPolicy(keys, image, read.optional("REGISTRY_USERNAME"),
                        Secret(password) if password else None)  # fmt: skip


def check_tag(tag: str) -> str:
    """An image tag, optionally pinned as TAG@sha256:DIGEST; anything else is refused."""
    name, _, digest = tag.partition("@")
    if not TAG_PATTERN.fullmatch(name) or (digest and not DIGEST_PATTERN.fullmatch(digest)):
        raise InvalidInput(
            f"Image tag {tag!r} is refused: a tag is 1-128 characters of A-Z a-z 0-9 _ . - "
            "(not starting with . or -), optionally followed by @sha256:<64 hex>."
        )
    return tag


def check_host(host: str, *, variable: str = "host") -> str:
    """A host name, an IPv4 address, or an IPv6 address (bare or in balanced brackets)."""
    bracketed = host.startswith("[") and host.endswith("]")
    address = host[1:-1] if bracketed else host
    ok = HOST_PATTERN.fullmatch(host) is not None and (
        _is_ipv6(address) if bracketed or ":" in address else True
    )
    if not ok:
        raise ConfigError(
            variable,
            f"{host!r} is not a host name or IP address (an IPv6 address may be written "
            "bare or in balanced brackets: ::1 or [::1]).",
        )
    return host


def _is_ipv6(address: str) -> bool:
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def check_path(path: str, *, variable: str = "path") -> str:
    """An absolute path of plain characters, without '..'."""
    if not PATH_PATTERN.fullmatch(path) or ".." in path.split("/"):
        raise InvalidInput(
            f"{variable}: {path!r} is refused: use an absolute path of A-Z a-z 0-9 . _ - / "
            "without '..'."
        )
    return path.rstrip("/") or "/"


class _Reader:
    """Reads `<PREFIX>_<KEY>` variables, each error naming the variable."""

    def __init__(self, prefix: str, environ: Mapping[str, str]) -> None:
        self.prefix = prefix
        self.environ = environ

    def name(self, key: str) -> str:
        return f"{self.prefix}_{key}"

    def optional(self, key: str) -> str | None:
        value = self.environ.get(self.name(key), "").strip()
        return value or None

    def required(self, key: str) -> str:
        value = self.optional(key)
        if value is None:
            raise ConfigError(self.name(key), "is not set; set it in the environment.")
        return value

    def matching(self, key: str, pattern: re.Pattern[str], what: str) -> str:
        value = self.required(key)
        if not pattern.fullmatch(value):
            raise ConfigError(self.name(key), f"{value!r} is not {what}.")
        return value

    def optional_matching(
        self, key: str, pattern: re.Pattern[str], what: str, default: str
    ) -> str:
        value = self.optional(key)
        if value is None:
            return default
        if not pattern.fullmatch(value):
            raise ConfigError(self.name(key), f"{value!r} is not {what}.")
        return value

    def integer(self, key: str, *, default: int, low: int, high: int) -> int:
        value = self.optional(key)
        if value is None:
            return default
        if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
            raise ConfigError(
                self.name(key),
                f"{value!r} is not a whole number {low}-{high} written with the digits 0-9.",
            )
        return int(value)

    def ratio(self, key: str, default: float, *, high: float) -> float:
        value = self.optional(key)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not 0 <= number <= high:
            raise ConfigError(self.name(key), f"{value!r} is not a number 0-{high:g} (e.g. 0.01).")
        return number

    def choice(self, key: str, choices: tuple[str, ...], *, default: str) -> str:
        value = self.optional(key) or default
        if value not in choices:
            raise ConfigError(self.name(key), f"{value!r} is not one of {', '.join(choices)}.")
        return value

    def private_key(self, key: str) -> str:
        value = self.required(key)
        if "PRIVATE KEY-----" not in value:
            raise ConfigError(
                self.name(key),
                "does not hold a private key (expected the text of an OpenSSH or PEM key, "
                "'-----BEGIN ... PRIVATE KEY-----'); the value is not shown.",
            )
        return value if value.endswith("\n") else value + "\n"

    def known_hosts(self, key: str) -> str:
        value = self.optional(key)
        if value is None:
            raise ConfigError(
                self.name(key),
                "is not set: host keys are always verified; put the host's known_hosts line "
                "here (ssh-keyscan -p PORT HOST).",
            )
        lines = [line for line in value.splitlines() if line.strip() and not line.startswith("#")]
        if not lines or any(len(line.split()) < 3 for line in lines):
            raise ConfigError(
                self.name(key), "is not in known_hosts format ('HOST KEYTYPE BASE64KEY')."
            )
        return "\n".join(lines) + "\n"
