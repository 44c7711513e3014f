"""The only SSH code: an asyncssh Runner (run a command, files, a forwarded port). Imported
only through deploy.host.remote.connect, so commands that reach no host never load asyncssh."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import anyio
import asyncssh

from deploy.commands import Command, shell_line
from deploy.config import Target
from deploy.errors import ConnectionFailed, RemoteCommandFailed
from deploy.host.runner import Result

LOST = (asyncssh.ConnectionLost, asyncssh.DisconnectError, asyncssh.ChannelOpenError, OSError)


@asynccontextmanager
async def file_errors(operation: str, path: str) -> AsyncIterator[None]:
    """SFTP refusals and lost connections become DeployErrors naming the file."""
    try:
        yield
    except (asyncssh.SFTPNoConnection, asyncssh.SFTPConnectionLost, *LOST) as error:
        raise ConnectionFailed(f"The SSH connection was lost ({operation} {path}).") from error
    except asyncssh.SFTPError as error:
        raise RemoteCommandFailed(f"sftp {operation} {path}", 1, error.reason) from error


class SshRunner:
    """A Runner over one asyncssh connection and its SFTP session."""

    def __init__(self, connection: asyncssh.SSHClientConnection, sftp: asyncssh.SFTPClient):
        self.connection = connection
        self.sftp = sftp

    async def run(self, command: Command, *, check: bool = True) -> Result:
        line = shell_line(command)
        try:
            done = await self.connection.run(line, check=False)
        except LOST as error:
            raise ConnectionFailed(f"The SSH connection was lost running `{line}`.") from error
        result = Result(
            exit_status=done.exit_status if done.exit_status is not None else 255,
            stdout=_text(done.stdout),
            stderr=_text(done.stderr),
        )
        if check and not result.ok:
            raise RemoteCommandFailed(line, result.exit_status, result.stderr or result.stdout)
        return result

    async def stream(self, command: Command, on_line: Callable[[str], None]) -> int:
        """Run `command`, handing each line of its output (stdout and stderr) to `on_line` as
        it comes; its exit status. Cancelled (Ctrl-C), the remote command is closed."""
        line = shell_line(command)
        try:
            async with self.connection.create_process(
                line, stderr=asyncssh.STDOUT, encoding="utf-8", errors="replace"
            ) as process:
                async for text in process.stdout:
                    if text:  # "" is the end of the stream, not a line
                        on_line(str(text).rstrip("\n"))
                done = await process.wait(check=False)
        except LOST as error:
            raise ConnectionFailed(f"The SSH connection was lost running `{line}`.") from error
        return done.exit_status if done.exit_status is not None else 255

    @asynccontextmanager
    async def follow(self, command: Command) -> AsyncIterator[AsyncIterator[str]]:
        """Run `command` over one channel; its stdout's lines as they come (stderr dropped).
        Leaving the block, cancelled or not, sends EOF and closes the channel: the host then
        closes the command's stdin, which commands.follow_from waits for to end its tail."""
        line = shell_line(command)
        try:
            process = await self.connection.create_process(
                line, stderr=asyncssh.DEVNULL, encoding="utf-8", errors="replace")
        except LOST as error:
            raise ConnectionFailed(f"The SSH connection was lost running `{line}`.") from error
        try:
            yield _Lines(process, line)
        finally:
            with suppress(*LOST, BrokenPipeError):
                process.stdin.write_eof()
            process.close()
            with anyio.CancelScope(shield=True), anyio.move_on_after(2), suppress(*LOST):
                await process.wait_closed()

    async def read_file(self, path: str) -> str | None:
        async with file_errors("read", path):
            try:
                async with self.sftp.open(path, "r") as handle:
                    return _text(await handle.read())
            except asyncssh.SFTPNoSuchFile:
                return None

    async def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None:
        """Write a temporary file beside `path`, then rename it over `path` (atomic).

        An existing file keeps its mode and owner; a new one gets `mode`. The temporary file
        is created 0600, so the text is never readable by others on the way."""
        temporary = f"{path}.tmp-{secrets.token_hex(4)}"
        async with file_errors("write", path):
            try:
                before: asyncssh.SFTPAttrs | None = await self.sftp.stat(path)
            except asyncssh.SFTPNoSuchFile:
                before = None
            private = asyncssh.SFTPAttrs(permissions=0o600)
            async with self.sftp.open(temporary, "w", private) as handle:
                await handle.write(text)
            try:
                await self.keep_owner(temporary, before)
                await self.sftp.chmod(temporary, kept_mode(before, mode))
                await self.sftp.posix_rename(temporary, path)
            except asyncssh.SFTPError:
                with suppress(asyncssh.SFTPError):
                    await self.sftp.remove(temporary)
                raise

    async def keep_owner(self, temporary: str, before: asyncssh.SFTPAttrs | None) -> None:
        """Give the temporary file the owner of the file it replaces (when that differs)."""
        if before is None or before.uid is None or before.gid is None:
            return
        now = await self.sftp.stat(temporary)
        if (now.uid, now.gid) != (before.uid, before.gid):
            try:
                await self.sftp.chown(temporary, before.uid, before.gid)
            except asyncssh.SFTPPermissionDenied as error:
                raise asyncssh.SFTPPermissionDenied(
                    f"it is owned by uid {before.uid} gid {before.gid} and this SSH user may "
                    "not give a file that owner; nothing was changed (deploy as its owner)"
                ) from error

    async def create_file(self, path: str, text: str) -> bool:
        """Create `path`, complete, only if it does not exist yet; False when it does."""
        temporary = f"{path}.new-{secrets.token_hex(4)}"
        async with file_errors("create", path):
            async with self.sftp.open(temporary, "w") as handle:
                await handle.write(text)
            try:
                await self.sftp.link(temporary, path)  # a hard link fails if path exists
            except asyncssh.SFTPFailure:
                return False
            finally:
                await self.sftp.remove(temporary)
        return True

    async def rename(self, source: str, destination: str) -> bool:
        async with file_errors("rename", source):
            try:
                await self.sftp.posix_rename(source, destination)
            except asyncssh.SFTPNoSuchFile:
                return False
        return True

    async def remove(self, path: str) -> None:
        async with file_errors("remove", path):
            with suppress(asyncssh.SFTPNoSuchFile):
                await self.sftp.remove(path)

    @asynccontextmanager
    async def forward_port(self, remote_port: int) -> AsyncIterator[int]:
        """A local 127.0.0.1 port that reaches the host's 127.0.0.1:`remote_port`."""
        listener = await self.connection.forward_local_port(
            "127.0.0.1", 0, "127.0.0.1", remote_port
        )
        try:
            yield listener.get_port()
        finally:
            listener.close()

    async def read_bytes(self, path: str) -> bytes | None:
        """The file's bytes as they are (no decoding), or None when it does not exist."""
        async with file_errors("read", path):
            try:
                async with self.sftp.open(path, "rb") as handle:
                    data = await handle.read()
            except asyncssh.SFTPNoSuchFile:
                return None
        return data if isinstance(data, bytes) else str(data).encode()

    async def append_file(self, path: str, text: str) -> None:
        """Append to `path` (O_APPEND on the host): the bytes already there are never rewritten."""
        async with file_errors("append", path), self.sftp.open(path, "ab") as handle:
            await handle.write(text.encode("utf-8"))


@asynccontextmanager
async def open_ssh(target: Target, *, port: int | None = None) -> AsyncIterator[SshRunner]:
    """Open SSH to the target, verifying its host key against the target's known_hosts."""
    where = f"{target.username}@{target.host}:{port or target.port}"
    try:
        connection = await asyncssh.connect(
            target.host,
            port or target.port,
            username=target.username,
            client_keys=[asyncssh.import_private_key(target.private_key.reveal())],
            known_hosts=asyncssh.import_known_hosts(target.known_hosts),
            agent_path=None,
            config=[],
            preferred_auth="publickey",
            connect_timeout=15,
            keepalive_interval=5,
            keepalive_count_max=3,
        )
    except asyncssh.HostKeyNotVerifiable as error:
        raise ConnectionFailed(
            f"The host key of {where} does not match {target.prefix}_KNOWN_HOSTS: refusing to "
            "connect. Check the host, then update the variable with its real key."
        ) from error
    except asyncssh.PermissionDenied as error:
        raise ConnectionFailed(
            f"{where} refused the key in {target.prefix}_SSH_KEY: add its public key to "
            f"~{target.username}/.ssh/authorized_keys on the host."
        ) from error
    except (asyncssh.KeyImportError, ValueError) as error:
        raise ConnectionFailed(
            f"{target.prefix}_SSH_KEY or {target.prefix}_KNOWN_HOSTS could not be read "
            "(the value is not shown)."
        ) from error
    except (OSError, asyncssh.Error) as error:
        raise ConnectionFailed(f"Could not connect to {where}: {type(error).__name__}.") from error
    try:
        async with connection.start_sftp_client() as sftp:
            yield SshRunner(connection, sftp)
    finally:
        connection.close()
        with suppress(*LOST):
            await connection.wait_closed()


class _Lines:
    """A followed command's stdout, line by line (without the newline); ends with the output."""

    def __init__(self, process: asyncssh.SSHClientProcess[str], line: str) -> None:
        self.process = process
        self.line = line

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        try:
            text = await self.process.stdout.readline()
        except LOST as error:
            raise ConnectionFailed(f"The SSH connection was lost running `{self.line}`.") from error
        if not text:
            raise StopAsyncIteration
        return text.rstrip("\n")


def kept_mode(before: asyncssh.SFTPAttrs | None, mode: int) -> int:
    """The mode a rewritten file must have: the one it had, else `mode` (a new file)."""
    if before is None or before.permissions is None:
        return mode
    return before.permissions & 0o7777


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
