"""Reaching a host: `connect` opens SSH (deploy/host/ssh.py, asyncssh) only when called, so
a command that needs no host (`--help`, `--version`, `plan`) never imports the SSH library."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from deploy.config import Target
from deploy.host.runner import Runner


@asynccontextmanager
async def connect(target: Target, *, port: int | None = None) -> AsyncIterator[Runner]:
    """Open SSH to the target, verifying its host key against the target's known_hosts."""
    from deploy.host.ssh import open_ssh

    async with open_ssh(target, port=port) as runner:
        yield runner


def quiet_ssh_library() -> None:
    """Hide exactly asyncssh's import-time `CryptographyDeprecationWarning` about DSA (it
    prints ten lines with the locked cryptography and no DSA key is ever used here). The
    CLIs call this where they start; tests keep the warning visible."""
    warnings.filterwarnings("ignore", message=r"DSA is deprecated", module=r"asyncssh\.")
