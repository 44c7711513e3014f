"""Pure: proving a release is the new one by its image's revision label (shipyard.toml's
`identity.source = "revision-label"`, for a service whose answers never name their commit).

The health answer cannot say which build answered, so the container must: it runs the
image that was deployed (same image id), is running and has not restarted while it was
checked (a container that could not bind its port exits or restarts, and then whatever
holds the port answered), and that image's OCI revision label is the release's commit."""

from __future__ import annotations

from dataclasses import dataclass

from deploy.commands import Command
from shipyard.identity import REVISION_LABEL


def container_state(container_id: str) -> Command:
    """Running or not, its restart count, and the id of the image it runs."""
    return Command(("docker", "inspect", "--type", "container", "--format",
                    "{{.State.Running}} {{.RestartCount}} {{.Image}}", container_id))  # fmt: skip


def image_id(image: str) -> Command:
    return Command(("docker", "image", "inspect", "--format", "{{.Id}}", image))


@dataclass(frozen=True, slots=True)
class ContainerState:
    running: bool
    restarts: int
    image_id: str


def parse_state(output: str) -> ContainerState | None:
    """`true 0 sha256:…` → ContainerState; None for anything else."""
    words = output.split()
    if len(words) != 3 or words[0] not in ("true", "false") or not words[1].isdigit():
        return None
    return ContainerState(words[0] == "true", int(words[1]), words[2])


def identity_problem(
    state: ContainerState | None, deployed_id: str | None, label: str | None,
    commit: str | None,
) -> str | None:
    """Why the container is not proven to be the release (None when it is): `deployed_id` is
    the id of the image deployed, `commit` its revision label, `label` the revision label of
    the image the container runs."""
    if commit is None:
        return (f"the image has no {REVISION_LABEL} label, so the release cannot be told "
                "apart from another: build it with that label set to the commit")  # fmt: skip
    if state is None:
        return "its container could not be inspected"
    if not state.running:
        return ("its container is not running (did another process hold its port?), so "
                "something else answered the health checks")  # fmt: skip
    if state.restarts:
        return (f"its container restarted {state.restarts} time(s) while it was checked, so "
                "something else may have answered")  # fmt: skip
    if deployed_id is not None and state.image_id != deployed_id:
        return (f"its container runs image {state.image_id[:19]}, not the deployed "
                f"{deployed_id[:19]}")  # fmt: skip
    if label != commit:
        return f"its image's revision label is {label!r}, not the release's {commit!r}"
    return None
