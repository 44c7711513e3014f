"""Pure: nginx config text from colours and ports; access-log lines → per-colour stats."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from deploy.attempts import Attempt, describe_retried, parse_attempts
from shipyard.declaration import DEFAULT_PORT

COLOURS = ("blue", "green")
# Where blue and green listen on host networking (on a bridge: published on 127.0.0.1 there,
# the app's declared port inside). `<ENV>_COLOUR_PORTS` chooses them; these are the defaults.
ColourPorts = tuple[int, int]
DEFAULT_COLOUR_PORTS: ColourPorts = (8001, 8002)
PROXY_DIR = "proxy"
CONF_DIR = f"{PROXY_DIR}/conf"  # mounted (the folder, not the files) at /etc/nginx/conf.d
LOG_DIR = f"{PROXY_DIR}/logs"  # mounted at /var/log/shipyard
SITE_FILE = f"{CONF_DIR}/shipyard.conf"
LIVE_FILE = f"{CONF_DIR}/live.upstream"  # not *.conf: included once, by shipyard.conf
ACCESS_LOG = f"{LOG_DIR}/access.log"
DEFAULT_PROXY_IMAGE = "nginx:1.28.0"
LOG_FORMAT_NAME = "shipyard"
# One line per answer: time, colour, status, seconds, then one entry per attempt at an upstream
# (addresses, statuses), then the request line; tab-separated.
LOG_FIELDS = ("$msec", "$shipyard_colour", "$status", "$request_time", "$upstream_addr",
              "$upstream_status", "$request")  # fmt: skip
# The format before $upstream_status (a site config `init` has not rewritten yet): still read.
OLD_LOG_FIELDS = 6


def other(colour: str) -> str:
    """blue ↔ green."""
    return COLOURS[1 - COLOURS.index(colour)]


def colour_port(colour: str, ports: ColourPorts) -> int:
    """The port of `colour` in (blue, green)."""
    return ports[COLOURS.index(colour)]


def upstream_address(
    colour: str, *, host_network: bool, ports: ColourPorts, app_port: int = DEFAULT_PORT
) -> str:
    """Where the proxy reaches a colour: a loopback port, or the colour's service on a bridge
    at the port the app's container listens on (the declared port)."""
    if host_network:
        return f"127.0.0.1:{colour_port(colour, ports)}"
    return f"api-{colour}:{app_port}"


def live_upstream(
    colour: str, *, host_network: bool, ports: ColourPorts, app_port: int = DEFAULT_PORT
) -> str:
    """The included file that says which colour serves; swapped whole, then `nginx -s reload`."""
    address = upstream_address(colour, host_network=host_network, ports=ports, app_port=app_port)
    return (
        f"# Written by the deployer: {colour} serves. Swapped atomically at each switch.\n"
        f'map $host $shipyard_colour {{ default "{colour}"; }}\n'
        f"upstream shipyard_live {{\n"
        f"    server {address} max_fails=0;\n"
        f"}}\n"
    )


def site_config(listen: str) -> str:
    """The server block: log format, the live upstream, generous timeouts for streams."""
    fields = "\\t".join(LOG_FIELDS)
    return (
        "# Written by `python -m deploy ENV init`; the live colour is in live.upstream.\n"
        f"log_format {LOG_FORMAT_NAME} \"{fields}\";\n"
        "include /etc/nginx/conf.d/live.upstream;\n"
        "server {\n"
        f"    listen {listen};\n"
        f"    access_log /var/log/shipyard/access.log {LOG_FORMAT_NAME};\n"
        "    location / {\n"
        "        proxy_pass http://shipyard_live;\n"
        "        proxy_http_version 1.1;\n"
        "        proxy_set_header Host $host;\n"
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "        proxy_set_header X-Forwarded-Proto $scheme;\n"
        "        proxy_buffering off;  # server-sent events reach the client as they come\n"
        "        proxy_read_timeout 1h;\n"
        "    }\n"
        "}\n"
    )


_LIVE = re.compile(r'\$shipyard_colour\s*\{\s*default\s+"(blue|green)"')


def parse_live_colour(text: str | None) -> str | None:
    """The colour a live.upstream file sends traffic to, or None when it is not ours."""
    match = _LIVE.search(text or "")
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class Answer:
    """One access-log line: which colour answered, how, and how long it took; every attempt
    nginx made for it (one, or more when it retried a failed one on another server)."""

    at: float
    colour: str
    status: int
    seconds: float
    request: str
    attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class ColourStats:
    """What the proxy saw of one colour."""

    requests: int = 0
    errors: int = 0  # 5xx (including the proxy's own 502/504 when the colour failed)
    slowest: float = 0.0

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def parse_access_line(line: str) -> Answer | None:
    """A line in the `shipyard` log format (or the one before `$upstream_status`), or None
    (torn line, other format). nginx escapes a tab inside a field, so tabs split fields."""
    parts = line.rstrip("\n").split("\t")
    if len(parts) == OLD_LOG_FIELDS:
        parts.insert(5, "")
        statuses: str | None = None
    elif len(parts) == len(LOG_FIELDS):
        statuses = parts[5]
    else:
        return None
    at, colour, status, seconds, addresses, _, request = parts
    try:
        code = int(status)
        return Answer(float(at), colour, code, float(seconds), request,
                      parse_attempts(addresses, statuses, code))  # fmt: skip
    except ValueError:
        return None


def colour_stats(lines: Iterable[str]) -> dict[str, ColourStats]:
    """Access-log lines → requests, 5xx answers and the slowest answer, per colour."""
    stats: dict[str, ColourStats] = {}
    for line in lines:
        answer = parse_access_line(line)
        if answer is None:
            continue
        seen = stats.get(answer.colour, ColourStats())
        stats[answer.colour] = ColourStats(
            requests=seen.requests + 1,
            errors=seen.errors + (answer.status >= 500),
            slowest=max(seen.slowest, answer.seconds),
        )
    return stats


@dataclass(frozen=True, slots=True)
class WatchPolicy:
    """When a freshly switched colour counts as degraded."""

    max_error_ratio: float = 0.05  # more than 5 % of its answers are 5xx ...
    min_errors: int = 3  # ... and at least this many (one stray 500 is not a verdict)
    failed_probes: int = 2  # or this many health probes in a row fail


def watch_verdict(
    stats: ColourStats, probe_results: list[bool], policy: WatchPolicy
) -> str | None:
    """None while the colour looks fine; else the reason to switch back."""
    recent = probe_results[-policy.failed_probes :]
    if len(recent) == policy.failed_probes and not any(recent):
        return f"{policy.failed_probes} health probes in a row failed"
    if stats.errors >= policy.min_errors and stats.error_ratio > policy.max_error_ratio:
        return (
            f"{stats.errors} of {stats.requests} answers through the proxy were 5xx "
            f"({stats.error_ratio:.0%} > {policy.max_error_ratio:.0%})"
        )
    return None


# -- canary: weights in the upstream, numbers per colour ---------------------------------------


def weighted_upstream(
    stable: str, weights: dict[str, int], *, host_network: bool, ports: ColourPorts,
    app_port: int = DEFAULT_PORT,
) -> str:
    """live.upstream that splits requests by nginx `weight=` (colours at weight 0 are left
    out). The log's colour is the one whose address answered (the last of the attempts in
    `$upstream_addr`); `default` is the stable colour, so `parse_live_colour` still reads which
    colour serves. The judgement itself counts every attempt (`colour_numbers`)."""
    address = {colour: upstream_address(colour, host_network=host_network, ports=ports,
                                        app_port=app_port) for colour in COLOURS}  # fmt: skip
    servers = "".join(
        f"    server {address[colour]} weight={weight} max_fails=0;\n"
        for colour, weight in sorted(weights.items()) if weight > 0
    )  # fmt: skip
    keys = "".join(f' "~(^|\\s){re.escape(address[colour])}$" "{colour}";' for colour in COLOURS)
    return (
        f"# Written by the deployer: a canary; {stable} is stable. Weights in percent.\n"
        f'map $upstream_addr $shipyard_colour {{ default "{stable}";{keys} }}\n'
        f"upstream shipyard_live {{\n{servers}}}\n"
    )


_WEIGHT = re.compile(r"server\s+(\S+)\s+weight=(\d+)")


def parse_weights(text: str | None, ports: ColourPorts) -> dict[str, int]:
    """Percent per colour in a live.upstream file (a single-colour file: 100 for it); on host
    networking a server is told by its port in `ports`."""
    text = text or ""
    found = {address: int(weight) for address, weight in _WEIGHT.findall(text)}
    if not found:
        live = parse_live_colour(text)
        return {colour: 100 if colour == live else 0 for colour in COLOURS} if live else {}
    return {colour: next((w for a, w in found.items()
                          if a.endswith(f":{colour_port(colour, ports)}")
                          or a.startswith(f"api-{colour}:")), 0)
            for colour in COLOURS}  # fmt: skip


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values): p95 = percentile(values, 0.95)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class ColourNumbers:
    """A colour's requests (every attempt nginx made at it), failures (5xx answers and failed
    attempts), the failed attempts nginx retried on the other colour (counted in `errors`
    too), and the p95 duration (seconds) of the requests it answered at the first attempt, in
    a window of the log."""

    requests: int = 0
    errors: int = 0
    p95: float = 0.0
    retried: int = 0

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def describe(self) -> str:
        retried = f"; {describe_retried(self.retried)}" if self.retried else ""
        return (f"{self.requests} requests, {self.errors} 5xx ({self.error_ratio:.1%}{retried}), "
                f"p95 {self.p95 * 1000:.0f} ms")  # fmt: skip


def colour_addresses(ports: ColourPorts) -> dict[str, str]:
    """How the access log names each colour on host networking: address → colour."""
    return {upstream_address(colour, host_network=True, ports=ports): colour
            for colour in COLOURS}  # fmt: skip


def colour_numbers(
    lines: Iterable[str], addresses: Mapping[str, str]
) -> dict[str, ColourNumbers]:
    """Access-log lines → numbers per colour, counting every attempt at the colour its address
    names (`addresses`: address → colour): a request nginx tried on the canary, which
    refused it, and then answered from the stable colour is a failure of the canary and an
    answer of the stable colour. An attempt at an address not in `addresses` counts for the
    line's colour when it is the answer, and not at all otherwise."""
    seconds: dict[str, list[float]] = {}
    tried: dict[str, list[int]] = {}  # colour → [attempts, failed, retried elsewhere]
    for line in lines:
        answer = parse_access_line(line)
        if answer is None:
            continue
        attempts = answer.attempts or (Attempt("-", answer.status, answer.status >= 500, True),)
        for attempt in attempts:
            colour = addresses.get(attempt.address) or (answer.colour if attempt.answered
                                                        else None)  # fmt: skip
            if colour is None:
                continue
            counts = tried.setdefault(colour, [0, 0, 0])
            counts[0] += 1
            counts[1] += attempt.failed
            counts[2] += attempt.failed and not attempt.answered
            if attempt.answered and len(attempts) == 1:
                seconds.setdefault(colour, []).append(answer.seconds)
    return {colour: ColourNumbers(n, failed, percentile(seconds.get(colour, []), 0.95), retried)
            for colour, (n, failed, retried) in tried.items()}  # fmt: skip
