"""Pure: Swarm commands as argv tuples, parsers of `docker service inspect`/`ps` output, and
the verdict on an update (converged, still going, or failed: rolled back or paused)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum

from deploy.commands import Command
from deploy.ledger import Kind, Outcome, Release

STACK_FILE = ".deploy/stack.json"  # the rendered stack, kept on the manager beside the ledger
STACK_FILE_MODE = 0o600  # it holds the service's environment, secrets included
# One JSON object per service: its update, image, replicas and previous spec's image (never
# the environment, which holds secrets).
INSPECT_FORMAT = (
    '{"update": {{json .UpdateStatus}}, "image": {{json .Spec.TaskTemplate.ContainerSpec.Image}}, '
    '"replicas": {{with .Spec.Mode.Replicated}}{{json .Replicas}}{{else}}null{{end}}, '
    '"previous": {{with .PreviousSpec}}{{json .TaskTemplate.ContainerSpec.Image}}'
    "{{else}}null{{end}}}"
)
FAILED_STATES = ("paused", "rollback_paused", "rollback_completed")


def stack_deploy(app_path: str, stack: str) -> Command:
    """Deploy the rendered stack; the manager hands its registry login to the nodes."""
    return Command(("docker", "stack", "deploy", "--with-registry-auth", "--detach=true",
                    "--compose-file", STACK_FILE, stack), cwd=app_path)  # fmt: skip


def make_missing(folders: list[str]) -> Command:
    """Create the bind mounts' folders that do not exist (an existing file is left alone)."""
    script = 'for d; do test -e "$d" || mkdir -p "$d" || exit 1; done'
    return Command(("sh", "-c", script, "mkdirs", *folders))


def service_inspect(service: str) -> Command:
    return Command(("docker", "service", "inspect", "--format", INSPECT_FORMAT, service))


def service_tasks(service: str) -> Command:
    return Command(("docker", "service", "ps", "--no-trunc", "--format", "{{json .}}", service))


def service_rollback(service: str) -> Command:
    """Swarm's own way back: the service's previous spec."""
    return Command(("docker", "service", "rollback", "--detach", service))


def task_logs(task_id: str, lines: int) -> Command:
    """A task's last `lines` of output (never its environment): its container's log when it
    ran on this node, else what `docker service logs` gathers from the node it ran on."""
    script = (
        "c=$(docker inspect --type task --format '{{.Status.ContainerStatus.ContainerID}}' "
        '"$2" 2>/dev/null); test -n "$c" && docker logs --tail "$1" "$c" 2>&1 && exit 0; '
        'exec docker service logs --no-task-ids --tail "$1" "$2" 2>&1'
    )
    return Command(("sh", "-c", script, "logs", str(lines), task_id))


def task_container(service: str) -> Command:
    """The ids of the service's containers running on this node (newest first)."""
    return Command(("docker", "ps", "-q", "--filter",
                    f"label=com.docker.swarm.service.name={service}"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class UpdateStatus:
    """`UpdateStatus` of `docker service inspect`: absent until the first update."""

    state: str  # updating, paused, completed, rollback_started, rollback_paused, rollback_completed
    message: str = ""
    started_at: str = ""


@dataclass(frozen=True, slots=True)
class ServiceState:
    """What the manager says of the service: its spec's image, replicas and last update."""

    image: str
    replicas: int | None  # None: a global service
    update: UpdateStatus | None
    previous_image: str | None  # the spec `docker service rollback` returns to


@dataclass(frozen=True, slots=True)
class Task:
    """One line of `docker service ps`."""

    id: str
    name: str
    image: str
    node: str
    desired: str  # Running, Shutdown, ...
    current: str  # "Running 5 seconds ago", "Failed 2 seconds ago", ...
    error: str = ""

    @property
    def state(self) -> str:
        return self.current.split(" ", 1)[0].lower() if self.current else ""

    @property
    def running(self) -> bool:
        return self.desired.lower() == "running" and self.state == "running"

    @property
    def digest(self) -> str | None:
        return self.image.partition("@")[2] or None


def parse_service(text: str) -> ServiceState:
    """`service_inspect`'s output → ServiceState (ValueError when it is not that)."""
    data = json.loads(text)
    update = data.get("update")
    status = None
    if isinstance(update, dict) and update.get("State"):
        status = UpdateStatus(str(update["State"]), str(update.get("Message") or ""),
                              str(update.get("StartedAt") or ""))
    replicas = data.get("replicas")
    previous = data.get("previous")
    return ServiceState(
        image=str(data["image"]), replicas=None if replicas is None else int(replicas),
        update=status, previous_image=str(previous) if previous else None,
    )  # fmt: skip


def parse_tasks(text: str) -> list[Task]:
    """`service_tasks`'s output, one JSON object a line → tasks (newest first per slot)."""
    tasks = []
    for line in text.splitlines():
        if not line.strip():
            continue
        data = json.loads(line)
        tasks.append(Task(
            id=str(data.get("ID", "")), name=str(data.get("Name", "")).strip(" \\_"),
            image=str(data.get("Image", "")), node=str(data.get("Node", "")),
            desired=str(data.get("DesiredState", "")), current=str(data.get("CurrentState", "")),
            error=str(data.get("Error", "")),
        ))  # fmt: skip
    return tasks


class Phase(StrEnum):
    CONVERGED = "converged"  # every wanted task runs the wanted image, the update completed
    WAITING = "waiting"  # Swarm is still at work
    ROLLED_BACK = "rolled_back"  # Swarm gave up on the update and rolled back (failed release)
    PAUSED = "paused"  # Swarm paused the update (or its rollback): failed, needs a person


@dataclass(frozen=True, slots=True)
class Verdict:
    phase: Phase
    running: int  # tasks running the wanted image
    desired: int | None
    detail: str


def active(tasks: list[Task]) -> list[Task]:
    """The tasks Swarm wants running now (not the history `service ps` also lists)."""
    return [task for task in tasks if task.desired.lower() == "running"]


def judge(
    state: ServiceState, tasks: list[Task], image: str, *, before: UpdateStatus | None = None,
    rollback: bool = False,
) -> Verdict:
    """Where an update of the service to `image` stands. `before` is the UpdateStatus seen
    before the deploy (an unchanged one is an earlier update's, not this one's: a spec that
    did not change starts no update); `rollback`: Swarm's own rollback to `image` was asked."""
    running = sum(1 for task in tasks if task.running and task.image == image)
    others = sum(1 for task in tasks if task.running and task.image != image)
    update = None if state.update == before else state.update
    if rollback and update is not None and update.state == "rollback_completed":
        update = replace(update, state="completed")
    said = f": {update.message}" if update and update.message else ""
    if update is not None and update.state == "rollback_completed":
        return Verdict(Phase.ROLLED_BACK, running, state.replicas,
                       f"Swarm rolled the update back{said}")  # fmt: skip
    if update is not None and update.state in ("paused", "rollback_paused"):
        what = "its rollback" if update.state == "rollback_paused" else "the update"
        return Verdict(Phase.PAUSED, running, state.replicas, f"Swarm paused {what}{said}")
    wanted = state.replicas if state.replicas is not None else max(len(active(tasks)), 1)
    if state.image != image:
        return Verdict(Phase.WAITING, running, state.replicas,
                       f"the service's spec names {state.image}")  # fmt: skip
    in_progress = update is not None and update.state in ("updating", "rollback_started")
    if not in_progress and running >= wanted and others == 0:
        return Verdict(Phase.CONVERGED, running, state.replicas,
                       f"{running}/{wanted} tasks run the release")  # fmt: skip
    where = update.state if update else "creating"
    return Verdict(Phase.WAITING, running, state.replicas,
                   f"{where}: {running}/{wanted} tasks run the release")  # fmt: skip


def task_errors(tasks: list[Task], image: str, limit: int = 5) -> list[str]:
    """Why the release's tasks failed, newest first, each message once."""
    seen: dict[str, None] = {}
    for task in tasks:
        if task.image == image and task.error and task.state in ("failed", "rejected", "shutdown"):
            seen.setdefault(f"{task.name}: {task.state}: {task.error}", None)
    return list(seen)[:limit]


def failed_task(tasks: list[Task], image: str) -> Task | None:
    """The newest task of the release that failed with an error (its log says why), else the
    newest that ended (one Swarm shut down before it ran has no log)."""
    ended = [task for task in tasks if task.image == image
             and task.state in ("failed", "rejected", "shutdown", "complete")]  # fmt: skip
    return next((task for task in ended if task.error), next(iter(ended), None))


def drift(tasks: list[Task]) -> list[str]:
    """The different images the running tasks run (more than one: the tasks disagree)."""
    return sorted({task.image for task in tasks if task.running})


def spec_refused(image: str, history: list[Release]) -> str | None:
    """Why Swarm's previous spec (`image`) is no way back, or None: after Swarm rolled an
    update back, its previous spec is the release that failed."""
    digest = image.partition("@")[2]
    mine = [r for r in history if digest and r.digest == digest and r.kind is not Kind.LOAD_GATE]
    if any(r.outcome is Outcome.HEALTHY for r in mine):
        return None
    if any(r.outcome is Outcome.FAILED for r in mine):
        return "a release that failed here (the ledger says so)"
    return None
