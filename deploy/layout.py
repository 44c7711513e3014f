"""Pure: the guide's compose model (`docker compose config --format json`) → a blue-green one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deploy.errors import InitRefused
from deploy.proxy import (
    COLOURS,
    CONF_DIR,
    DEFAULT_PROXY_IMAGE,
    LIVE_FILE,
    LOG_DIR,
    ColourPorts,
    colour_port,
)
from shipyard.declaration import DEFAULT_NAME, DEFAULT_PORT

SERVICE = DEFAULT_NAME  # the guide's one service; the colours are SERVICE-blue, SERVICE-green
LAYOUT_FILE = "docker-compose.yml"  # what `init` writes in the app folder
MARKER = "# shipyard blue-green layout"
TAG_VARIABLE = "IMAGE_TAG"
# Keys of the guide's service carried to both colours unchanged.
CARRIED = ("restart", "environment", "env_file", "volumes", "labels", "logging", "command",
           "entrypoint", "user", "working_dir", "stop_signal", "ulimits", "security_opt",
           "cap_drop", "cap_add", "read_only", "tmpfs")  # fmt: skip
# Keys the layout replaces: each colour gets its own image tag, port and health check.
# `networks` only as compose writes it for the default network (custom ones are refused).
REPLACED = ("image", "ports", "network_mode", "healthcheck", "container_name", "expose",
            "networks")  # fmt: skip


def colour_service(colour: str) -> str:
    return f"{SERVICE}-{colour}"


def tag_variable(colour: str) -> str:
    return f"{colour.upper()}_TAG"


@dataclass(frozen=True, slots=True)
class GuideService:
    """What the layout keeps of the guide's `api` service."""

    image: str  # with ${IMAGE_TAG...} in it
    host_network: bool
    public_port: int
    carried: tuple[tuple[str, Any], ...]
    app_port: int = DEFAULT_PORT  # where the app's container listens (declared)


def is_blue_green(model: dict[str, Any]) -> bool:
    services = model.get("services") or {}
    return {"proxy", *map(colour_service, COLOURS)} <= set(services)


def guide_problems(model: dict[str, Any], *, service: str = SERVICE) -> list[str]:
    """What keeps `init` from laying the compose model out (empty: the guide's file)."""
    services = model.get("services") or {}
    problems: list[str] = []
    if set(services) != {service}:
        problems.append(f"expected exactly one service `{service}`, found {sorted(services)}")
    api = services.get(service) or {}
    unknown = sorted(set(api) - set(CARRIED) - set(REPLACED))
    if unknown:
        problems.append(f"`{service}` uses keys this layout does not carry: {', '.join(unknown)}")
    image = str(api.get("image", ""))
    if image.count("${" + TAG_VARIABLE) != 1:
        problems.append(f"`{service}.image` must use ${{{TAG_VARIABLE}}} once, got {image!r}")
    networks = set(api.get("networks") or {})
    if networks - {"default"}:
        problems.append(f"`{service}` joins networks this layout does not carry: "
                        f"{', '.join(sorted(networks - {'default'}))}")  # fmt: skip
    if api.get("network_mode") != "host" and len(api.get("ports") or []) != 1:
        problems.append(f"`{service}` must publish exactly one port (or use host networking)")
    return problems


def understand(
    model: dict[str, Any], app_path: str, *, app_port: int = DEFAULT_PORT, service: str = SERVICE
) -> GuideService:
    """The guide's single service (`service`, declared: `api` by default), or InitRefused
    naming everything not understood; its container listens on `app_port`."""
    problems = guide_problems(model, service=service)
    if problems:
        raise InitRefused(
            "The compose file is not the guide's single-service file, so init changed nothing: "
            + "; ".join(problems) + "."
        )
    api = (model.get("services") or {})[service]
    image = str(api.get("image", ""))
    host_network = api.get("network_mode") == "host"
    ports = api.get("ports") or []
    public = int(ports[0].get("published") or app_port) if ports else app_port
    carried = tuple((key, _relative(api[key], app_path) if key == "volumes" else api[key])
                    for key in CARRIED if key in api)  # fmt: skip
    return GuideService(image, host_network, public, carried, app_port)


def proxy_port_to_check(guide: GuideService, proxy_listen: str, *, running: bool) -> int | None:
    """The host port the layout's proxy will take, unless the guide's own running container
    holds it (the hand-over frees it): None, nothing to check. On host networking nginx
    listens on `proxy_listen`; on a bridge it publishes the guide's public port."""
    port = int(proxy_listen.rsplit(":", 1)[-1]) if guide.host_network else guide.public_port
    return None if running and port == guide.public_port else port


def _relative(volumes: list[Any], app_path: str) -> list[Any]:
    """Bind sources inside the app folder written as ./relative (the folder may move)."""
    out = []
    for volume in volumes:
        if isinstance(volume, dict) and str(volume.get("source", "")).startswith(app_path + "/"):
            volume = {**volume, "source": "." + str(volume["source"])[len(app_path) :]}
        out.append(volume)
    return out


def compose_text(guide: GuideService, ports: ColourPorts) -> str:
    """docker-compose.yml for the proxy and two colours (YAML; values in JSON flow style)."""
    lines = [
        f"{MARKER}: written by `python -m deploy ENV init`.",
        "# The proxy owns the public port; api-blue and api-green run side by side behind it.",
        "# The deployer sets BLUE_TAG / GREEN_TAG in .env and swaps proxy/conf/live.upstream.",
        "services:",
        "  proxy:",
        f'    image: "${{PROXY_IMAGE:-{DEFAULT_PROXY_IMAGE}}}"',
        '    restart: "always"',
        f'    volumes: ["./{CONF_DIR}:/etc/nginx/conf.d:ro", "./{LOG_DIR}:/var/log/shipyard"]',
    ]
    if guide.host_network:
        lines.append('    network_mode: "host"')
    else:
        lines.append(f'    ports: ["{guide.public_port}:{guide.app_port}"]')
    for colour in COLOURS:
        lines += _colour_lines(guide, colour, colour_port(colour, ports))
    return "\n".join(lines) + "\n"


def _colour_lines(guide: GuideService, colour: str, port: int) -> list[str]:
    image = guide.image.replace("${" + TAG_VARIABLE, "${" + tag_variable(colour))
    lines = [f"  {colour_service(colour)}:", f"    image: {json.dumps(image)}"]
    for key, value in guide.carried:
        if key == "environment":
            value = _with_port(value, port if guide.host_network else guide.app_port)
        lines.append(f"    {key}: {json.dumps(value)}")
    if "environment" not in dict(guide.carried):
        lines.append(f'    environment: ["PORT={port if guide.host_network else guide.app_port}"]')
    if guide.host_network:
        lines.append('    network_mode: "host"')
    else:  # the deployer health-checks a colour directly, before the proxy sends it anything
        lines.append(f'    ports: ["127.0.0.1:{port}:{guide.app_port}"]')
    return lines


def _with_port(environment: Any, port: int) -> Any:
    if isinstance(environment, dict):
        return {**environment, "PORT": str(port)}
    kept = [entry for entry in environment if not str(entry).startswith("PORT=")]
    return [*kept, f"PORT={port}"]


def layout_ports(text: str | None) -> ColourPorts | None:
    """The (blue, green) ports a compose file written by `init` gives its colours: the
    published 127.0.0.1 port on a bridge, else `PORT`; None when the file is not ours."""
    if not text or MARKER not in text:
        return None
    found: dict[str, int] = {}
    service = ""
    for line in text.splitlines():
        if line.startswith("  ") and not line.startswith("   ") and line.endswith(":"):
            service = line.strip()[:-1]
        colour = next((c for c in COLOURS if service == colour_service(c)), None)
        key, _, value = line.strip().partition(": ")
        if colour is None or key not in ("environment", "ports") or not line.startswith("    "):
            continue
        port = _port_in(key, value)
        if port is not None and (key == "ports" or colour not in found):
            found[colour] = port
    if set(found) != set(COLOURS):
        return None
    return found[COLOURS[0]], found[COLOURS[1]]


def _port_in(key: str, value: str) -> int | None:
    """The port in a colour's `environment` (PORT) or `ports` (127.0.0.1:PORT:APP) value."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if not isinstance(parsed, dict | list):
        return None
    if key == "environment":
        entries = parsed.items() if isinstance(parsed, dict) else (
            str(entry).partition("=")[::2] for entry in parsed)  # fmt: skip
        text = next((str(v) for k, v in entries if k == "PORT"), "")
    else:
        text = str(parsed[0]).split(":")[1] if parsed and str(parsed[0]).count(":") == 2 else ""
    return int(text) if text.isascii() and text.isdigit() else None


def ports_differ(prefix: str, path: str, found: ColourPorts, wanted: ColourPorts) -> str:
    """Why a layout on other ports than `<ENV>_COLOUR_PORTS` is refused, and the ways out."""
    laid, asked = "/".join(map(str, found)), "/".join(map(str, wanted))
    return (
        f"{path}/{LAYOUT_FILE} runs blue and green on {laid} (written by init), but "
        f"{prefix}_COLOUR_PORTS asks for {asked}. Set {prefix}_COLOUR_PORTS={laid} to deploy "
        f"this folder as it is laid out; to move it to {asked}, change the colours' ports in "
        f"{LAYOUT_FILE} and {LIVE_FILE} by hand (the serving colour restarts)."
    )
