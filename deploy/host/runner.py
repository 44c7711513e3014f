"""What the deployer asks of a host (the Runner protocol) and what a command returns; no SSH
library here: deploy/host/ssh.py implements it, imported only when a host is reached."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from deploy.commands import Command


@dataclass(frozen=True, slots=True)
class Result:
    """What a command on the host printed and how it exited."""

    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class Runner(Protocol):
    """Everything the deployer asks of a host."""

    async def run(self, command: Command, *, check: bool = True) -> Result: ...

    async def stream(self, command: Command, on_line: Callable[[str], None]) -> int: ...

    def follow(self, command: Command) -> AbstractAsyncContextManager[AsyncIterator[str]]:
        """Run `command` and hand over its stdout's lines as they come, until the block ends;
        then the channel is closed (the command must end when its stdin closes)."""
        ...

    async def read_file(self, path: str) -> str | None: ...

    async def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None: ...

    async def create_file(self, path: str, text: str) -> bool: ...

    async def rename(self, source: str, destination: str) -> bool: ...

    async def remove(self, path: str) -> None: ...

    def forward_port(self, remote_port: int) -> AbstractAsyncContextManager[int]: ...

    async def read_bytes(self, path: str) -> bytes | None: ...

    async def append_file(self, path: str, text: str) -> None: ...
