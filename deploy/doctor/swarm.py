"""Pure: the swarm target's doctor checks: a manager node, Ready nodes, no update stuck."""

from __future__ import annotations

import json
from datetime import datetime

from deploy.commands import Command
from deploy.doctor.checks import Check
from deploy.doctor.verdicts import Facts, Judgement, Output, failed, passed, warned
from deploy.swarm import service as swarm


def swarm_info(_: Facts) -> tuple[Command, ...]:
    return (Command(("docker", "info", "--format", "{{json .Swarm}}")),)


def node_list(_: Facts) -> tuple[Command, ...]:
    return (Command(("docker", "node", "ls", "--format", "{{json .}}")),)


def service_state(facts: Facts) -> tuple[Command, ...]:
    return (swarm.service_inspect(facts.swarm_service),)


def manager_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    info = outputs[0]
    fix = (f"Point {facts.prefix}_HOST (and {facts.prefix}_DOCKER_HOST) at a manager node: "
           "`docker node ls` there lists the nodes; `docker swarm init` makes one.")  # fmt: skip
    try:
        data = json.loads(info.stdout) if info.ok else {}
    except ValueError:
        data = {}
    state = str(data.get("LocalNodeState") or "unknown")
    if not info.ok:
        return failed(f"`docker info` failed: {info.said()}", fix)
    if state != "active":
        return failed(f"this engine is not in a swarm (LocalNodeState {state})", fix)
    if not data.get("ControlAvailable"):
        return failed("this node is a worker: only a manager can deploy a stack", fix)
    return passed(f"a manager of a swarm of {data.get('Nodes', '?')} node(s)")


def nodes_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    listing = outputs[0]
    if not listing.ok:
        return failed(f"`docker node ls` failed: {listing.said()}",
                      "Run the doctor against a manager node.")  # fmt: skip
    nodes = [json.loads(line) for line in listing.stdout.splitlines() if line.strip()]
    down = [f"{node.get('Hostname', '?')} {node.get('Status', '?')}/"
            f"{node.get('Availability', '?')}" for node in nodes
            if node.get("Status") != "Ready" or node.get("Availability") != "Active"]  # fmt: skip
    ready = len(nodes) - len(down)
    if ready == 0:
        return failed("no node is Ready and Active", "Start the nodes' engines, or "
                      "`docker node update --availability active NODE`.")  # fmt: skip
    if down:
        return warned(f"{ready} of {len(nodes)} nodes Ready; not: {', '.join(down)}",
                      "Swarm places no task on these nodes until they are Ready and Active.")
    return passed(f"{ready} of {len(nodes)} node(s) Ready and Active")


def age_seconds(started_at: str, now: float) -> float | None:
    """Seconds since Swarm's `StartedAt` (RFC 3339 with nanoseconds) at `now`."""
    try:
        moment = datetime.fromisoformat(started_at[:19] + "+00:00")
    except ValueError:
        return None
    return now - moment.timestamp()


def updating_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    found = outputs[0]
    service = facts.swarm_service
    if not found.ok:
        return passed(f"{service} does not exist yet: the first `up` creates it")
    state = swarm.parse_service(found.stdout)
    update = state.update
    fix = (f"Look at `docker service ps {service}`; then `python -m deploy {facts.environment} "
           "rollback` (or deploy a release that works).")  # fmt: skip
    if update is None or update.state in ("completed", "rollback_completed"):
        return passed(f"{service}: {update.state if update else 'never updated'}")
    if update.state in ("paused", "rollback_paused"):
        return failed(f"{service}: Swarm {update.state.replace('_', ' ')}: {update.message}", fix)
    age = age_seconds(update.started_at, found.started)
    if age is not None and age > facts.converge_timeout:
        return failed(f"{service}: {update.state} for {age:.0f} s ({update.message})", fix)
    return warned(f"{service}: {update.state} right now ({update.message})",
                  "Wait for the update to finish before the next release.")  # fmt: skip


SWARM_CHECKS: tuple[Check, ...] = (
    Check("swarm_manager", "swarm: a manager node", swarm_info, manager_verdict,
          needs=("docker",)),
    Check("swarm_nodes", "swarm: nodes Ready", node_list, nodes_verdict,
          needs=("swarm_manager",)),
    Check("swarm_update", "swarm: no update stuck", service_state, updating_verdict,
          needs=("swarm_manager",)),
)  # fmt: skip
