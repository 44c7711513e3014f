"""Reaching a host: `connect` opens SSH (deploy/host/ssh.py, asyncssh) only when called, so
a command that needs no host (`--help`, `--version`, `plan`) never imports the SSH library."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace

from deploy.commands import Command
from deploy.config import Target
from deploy.host.runner import Result, Runner


@asynccontextmanager
async def connect(target: Target, *, port: int | None = None) -> AsyncIterator[Runner]:
    """Open SSH to the target, verifying its host key against the target's known_hosts."""
    from deploy.host.ssh import open_ssh

    async with open_ssh(target, port=port) as runner:
        yield runner if target.docker_host is None else DockerHost(runner, target.docker_host)


class DockerHost:
    """A Runner whose commands all reach the engine at `<ENV>_DOCKER_HOST` (e.g. a Swarm
    manager's socket): DOCKER_HOST set in each command's environment, files untouched."""

    def __init__(self, runner: Runner, docker_host: str) -> None:
        self.inner = runner
        self.docker_host = docker_host

    def aimed(self, command: Command) -> Command:
        return replace(command, env=(("DOCKER_HOST", self.docker_host), *command.env))

    async def run(self, command: Command, *, check: bool = True) -> Result:
        return await self.inner.run(self.aimed(command), check=check)

    async def stream(self, command: Command, on_line: Callable[[str], None]) -> int:
        return await self.inner.stream(self.aimed(command), on_line)

    def follow(self, command: Command) -> AbstractAsyncContextManager[AsyncIterator[str]]:
        return self.inner.follow(self.aimed(command))

    async def read_file(self, path: str) -> str | None:
        return await self.inner.read_file(path)

    async def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None:
        await self.inner.write_file(path, text, mode=mode)

    async def create_file(self, path: str, text: str) -> bool:
        return await self.inner.create_file(path, text)

    async def rename(self, source: str, destination: str) -> bool:
        return await self.inner.rename(source, destination)

    async def remove(self, path: str) -> None:
        await self.inner.remove(path)

    def forward_port(self, remote_port: int) -> AbstractAsyncContextManager[int]:
        return self.inner.forward_port(remote_port)

    async def read_bytes(self, path: str) -> bytes | None:
        return await self.inner.read_bytes(path)

    async def append_file(self, path: str, text: str) -> None:
        await self.inner.append_file(path, text)


def quiet_ssh_library() -> None:
    """Hide exactly asyncssh's import-time `CryptographyDeprecationWarning` about DSA (it
    prints ten lines with the locked cryptography and no DSA key is ever used here). The
    CLIs call this where they start; tests keep the warning visible."""
    warnings.filterwarnings("ignore", message=r"DSA is deprecated", module=r"asyncssh\.")
