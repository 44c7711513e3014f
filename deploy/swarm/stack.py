"""Pure: the compose file's service + the declaration and settings → a Swarm stack file."""

from __future__ import annotations

import json
from typing import Any

from deploy.config import HealthPolicy, SwarmSettings, Target

STACK_VERSION = "3.8"
# Service keys `docker stack deploy` honours that the product's compose file may set; the
# others (build, network_mode, container_name, security_opt, restart, depends_on...) do not
# apply to a Swarm service or are replaced by the `deploy:` section.
KEPT_KEYS = (
    "command", "entrypoint", "environment", "user", "read_only", "cap_add", "cap_drop",
    "tmpfs", "working_dir", "labels", "stop_grace_period", "ulimits", "init",
)  # fmt: skip
HEALTH_INTERVAL, HEALTH_TIMEOUT, HEALTH_RETRIES, HEALTH_START = "2s", "3s", 3, "5s"
# The container's own health check: the declared path, statuses and expected JSON fields,
# asked with the image's python3 (the service's image has it: the declaration's runtime).
HEALTH_SCRIPT = """\
import json, sys, urllib.request as u
try:
    r = u.urlopen({url!r}, timeout=2); s, b = r.status, r.read()
except u.HTTPError as e:
    s, b = e.code, e.read()
except OSError:
    sys.exit(1)
e = json.loads({expect!r})
try:
    d = json.loads(b or b'null') if e else None
except ValueError:
    sys.exit(1)
ok = s in {statuses!r} and all(isinstance(d, dict) and d.get(k) == v for k, v in e.items())
sys.exit(0 if ok else 1)
"""


class StackError(ValueError):
    """The compose model cannot become a stack (the message names the key)."""


def service_name(target: Target) -> str:
    """The Swarm service `docker stack deploy` makes: STACK_SERVICE."""
    return f"{target.swarm.stack}_{target.service}"


def container_port(target: Target) -> int:
    """The port the app listens on inside its task: the host's on the host network."""
    if target.swarm.publish == "host-network":
        return target.health.port
    return target.app_port


def healthcheck(health: HealthPolicy, port: int) -> dict[str, Any]:
    """The declared health contract as the task's HEALTHCHECK (Swarm gates updates on it)."""
    expect = health.expect if isinstance(health.expect, dict) else {}
    script = HEALTH_SCRIPT.format(
        url=f"http://127.0.0.1:{port}{health.path}", expect=json.dumps(expect),
        statuses=tuple(health.statuses),
    )  # fmt: skip
    return {
        "test": ["CMD", "python3", "-c", script], "interval": HEALTH_INTERVAL,
        "timeout": HEALTH_TIMEOUT, "retries": HEALTH_RETRIES, "start_period": HEALTH_START,
    }  # fmt: skip


def deploy_section(swarm: SwarmSettings) -> dict[str, Any]:
    """Replicas, rolling update (rolled back by Swarm on failure), rollback, restart policy."""
    update = {
        "parallelism": swarm.parallelism, "delay": f"{swarm.delay}s", "order": swarm.order,
        "failure_action": "rollback", "monitor": f"{swarm.monitor}s", "max_failure_ratio": 0,
    }  # fmt: skip
    rollback = {**update, "delay": "0s", "failure_action": "pause"}
    restart = {"condition": "any", "delay": "2s", "window": f"{swarm.monitor}s"}
    return {"replicas": swarm.replicas, "update_config": update, "rollback_config": rollback,
            "restart_policy": restart}  # fmt: skip


def volumes(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Bind and named volumes in the stack's long form (Compose v2's extras dropped)."""
    kept = []
    for volume in service.get("volumes") or ():
        if not isinstance(volume, dict) or volume.get("type") not in ("bind", "volume", "tmpfs"):
            raise StackError(f"services.*.volumes: {volume!r} is not a bind, volume or tmpfs")
        entry = {key: volume[key] for key in ("type", "source", "target", "read_only")
                 if key in volume}  # fmt: skip
        kept.append(entry)
    return kept


def bind_sources(stack: dict[str, Any]) -> list[str]:
    """The host folders the stack's bind mounts need (Swarm does not create them)."""
    return [volume["source"] for service in stack["services"].values()
            for volume in service.get("volumes", ()) if volume.get("type") == "bind"]  # fmt: skip


def publishing(target: Target) -> dict[str, Any]:
    """How users reach the tasks: the routing mesh, each node's port, or the host network."""
    swarm, port = target.swarm, target.health.port
    if swarm.publish == "host-network":
        return {"networks": ["hostnet"]}
    mode = "ingress" if swarm.publish == "ingress" else "host"
    published = {"target": target.app_port, "published": port, "protocol": "tcp", "mode": mode}
    return {"ports": [published]}


def render_stack(model: dict[str, Any], target: Target, image: str) -> dict[str, Any]:
    """The stack for `docker stack deploy`: the app service of the compose model (from
    `docker compose config --format json`), its image pinned, with the `deploy:` section and
    health check; other services of the compose file are not part of it."""
    services = model.get("services")
    if not isinstance(services, dict) or target.service not in services:
        raise StackError(
            f"services.{target.service}: the compose file has no such service "
            f"(it has {', '.join(sorted(services or {})) or 'none'})"
        )
    source: dict[str, Any] = services[target.service]
    service: dict[str, Any] = {key: source[key] for key in KEPT_KEYS if source.get(key) is not None}
    service.update(image=image, healthcheck=healthcheck(target.health, container_port(target)),
                   deploy=deploy_section(target.swarm), **publishing(target))  # fmt: skip
    found = volumes(source)
    if found:
        service["volumes"] = found
    stack: dict[str, Any] = {"version": STACK_VERSION, "services": {target.service: service}}
    if target.swarm.publish == "host-network":
        stack["networks"] = {"hostnet": {"external": True, "name": "host"}}
    return stack


def stack_text(stack: dict[str, Any]) -> str:
    """The stack file's text: JSON, which `docker stack deploy -c` reads as YAML."""
    return json.dumps(stack, indent=2, sort_keys=True) + "\n"
