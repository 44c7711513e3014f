"""An action on every host of a fleet at once: each host's answer, or why not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio

from deploy.config import Fleet, Target
from deploy.deployer import Deployer
from deploy.errors import DeployError
from deploy.host.remote import connect
from deploy.host.runner import Runner

T = TypeVar("T")


def host_deployer(runner: Runner, target: Target, who: str, say: Callable[[str], None]) -> Deployer:
    """A Deployer whose every line names its host."""
    return Deployer(runner, target, who=who, say=lambda line: say(f"{target.label}: {line}"))


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """One host's answer to a command run on every host: a value, or why not."""

    target: Target
    value: T | None
    error: str | None = None
    failure: DeployError | None = None  # the error itself, for a caller that raises it


async def each_target(
    fleet: Fleet, action: Callable[[Target], Awaitable[T]]
) -> list[Answer[T]]:
    """Run `action` for every host at once; each host's answer (or DeployError), in order."""
    answers: list[Answer[T]] = [Answer(target, None, "not run") for target in fleet.targets]

    async def one(index: int, target: Target) -> None:
        try:
            answers[index] = Answer(target, await action(target))
        except DeployError as error:
            answers[index] = Answer(target, None, str(error), error)

    async with anyio.create_task_group() as group:
        for index, target in enumerate(fleet.targets):
            group.start_soon(one, index, target)
    return answers


async def on_every_host(
    fleet: Fleet, make: Callable[[Runner, Target], Deployer],
    action: Callable[[Deployer], Awaitable[T]],
) -> list[Answer[T]]:
    """Run `action` with a Deployer on every host at once; each host's answer, in order."""

    async def connected(target: Target) -> T:
        async with connect(target) as runner:
            return await action(make(runner, target))

    return await each_target(fleet, connected)
