"""The Strategy protocol and what strategies show to `status`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from deploy.ledger import Kind, Release


@dataclass(frozen=True, slots=True)
class ColourState:
    """One colour of a blue-green setup as `status` shows it."""

    colour: str
    tag: str | None
    image: str | None
    digest: str | None
    state: str  # running, exited, absent, ...
    serving: bool


@dataclass(frozen=True, slots=True)
class CanaryView:
    """A canary in progress as `status` shows it: its step, the weights, the live numbers."""

    step: int  # 1-based
    steps: int
    description: str
    paused: bool
    weights: dict[str, int]
    numbers: dict[str, str]  # colour → "N requests, E 5xx (R %), p95 T ms" since the step began


@dataclass(frozen=True, slots=True)
class SwarmTask:
    """One task Swarm wants running, as `status` shows it."""

    name: str
    node: str
    state: str  # "Running 5 minutes ago", "Starting 2 seconds ago", ...
    image: str
    digest: str | None
    error: str = ""


@dataclass(frozen=True, slots=True)
class SwarmView:
    """The swarm target's service as `status` shows it."""

    service: str
    running: int  # tasks running now
    desired: int | None  # the spec's replicas (None: a global service)
    update_state: str | None  # Swarm's UpdateStatus (None: never updated)
    update_message: str
    tasks: tuple[SwarmTask, ...]
    images: tuple[str, ...]  # what the running tasks run: more than one is drift
    previous_image: str | None  # the spec `docker service rollback` would return to

    @property
    def drift(self) -> bool:
        return len(self.images) > 1


@dataclass(frozen=True, slots=True)
class Layout:
    """What a strategy sees on the host beyond the serving image."""

    serving_colour: str | None = None
    colours: tuple[ColourState, ...] = ()
    proxy: str = "-"
    warnings: tuple[str, ...] = ()
    canary: CanaryView | None = None
    swarm: SwarmView | None = None


class Strategy(Protocol):
    """What the deployer asks of a strategy; each method runs with the host's lock held,
    except `serving_image` and `layout`, which only read."""

    name: str

    async def serving_image(self) -> str | None:
        """The image that answers the public port now."""
        ...

    async def serving_container(self) -> str | None:
        """The id of the container that answers the public port now (for `logs`)."""
        ...

    async def image_for(self, tag: str) -> str:
        """The image reference `release(tag)` would run (what a fleet pulls first)."""
        ...

    async def release(self, tag: str, kind: Kind, previous: str | None) -> Release:
        """Bring `tag` into service; record every phase; raise a DeployError on failure
        after leaving a known release serving."""
        ...

    async def layout(self) -> Layout: ...

    # A fleet sets `hold` before `release`: what the release replaced is kept ready (blue-green:
    # the old colour keeps running) until `let_go` (every host passed) or `return_held` (one
    # failed: switch back at once; None when nothing was kept, e.g. recreate).
    hold: bool

    async def let_go(self) -> None: ...

    async def return_held(self, why: str) -> Release | None: ...


class HoldsNothing:
    """A strategy that replaces in place (recreate; Swarm, which replaces tasks itself):
    a fleet has nothing of it to keep running, let go or return to."""

    hold = False

    async def let_go(self) -> None:
        return None

    async def return_held(self, why: str) -> Release | None:
        return None
