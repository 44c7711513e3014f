"""Getting a release's image onto the host (pull, or reuse for a rollback), checking a
pinned reference, and showing a failed release's log."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from deploy import commands as cmd
from deploy.errors import InvalidInput, PullFailed, RemoteCommandFailed
from deploy.host.pinning import check_pin
from deploy.ledger import Kind, Outcome, Release

if TYPE_CHECKING:
    from deploy.host.session import HostSession

FAILURE_LOG_LINES = 20  # lines of a failed release's log shown to the user
LEDGER_LOG_LINES = 8  # of those, the lines kept in its ledger record


def split_digest(image: str) -> str | None:
    """The `sha256:..` an image reference is pinned to, if any."""
    return image.partition("@")[2] or None


async def pull_unless_present(
    host: HostSession, record: Release, phases: dict[str, float], command: cmd.Command | None = None
) -> Release:
    """Pull a deploy's image; a rollback to an image still on the host skips the pull
    (it works with the registry unreachable), and so does an image a fleet pulled first."""
    if record.image in host.pulled:
        host.say(f"{record.image} was pulled before the switch")
        record = replace(record, digest=host.pulled[record.image])
        await host.record(record)
        return record
    if record.kind is not Kind.DEPLOY:
        present = await host.runner.run(cmd.image_present(record.image), check=False)
        if present.ok:
            host.say(f"{record.image} is on the host: no pull")
            record = replace(record, digest=await host.digest(record.image))
            await host.record(record)
            return record
    return await pull(host, record, phases, command)


async def pull(
    host: HostSession, record: Release, phases: dict[str, float], command: cmd.Command | None = None
) -> Release:
    """Pull the record's image (nothing changes on failure); record the digest."""
    previous = record.previous_tag
    host.say(f"pulling {record.image}")
    mark = host.clock()
    try:
        await host.runner.run(command or cmd.compose_pull(
            host.tool, host.path, record.tag, host.target.service))
    except RemoteCommandFailed as error:
        failed = host.finish(record, Outcome.PULL_FAILED, f"pull failed: {error}", phases)
        await host.record(failed)
        raise PullFailed(
            f"Could not pull {record.image}; nothing was changed, {previous or 'nothing'} "
            f"still runs. {error}"
        ) from error
    phases["pull"] = host.clock() - mark
    record = await checked_pin(host, record, phases)
    await host.record(record)
    return record


async def pull_first(host: HostSession, tag: str, image: str, running: str | None) -> str | None:
    """A fleet's first phase on one host: pull `image` (what `tag` names there) and check its
    pin, changing nothing that runs; its digest. A failure is recorded on this host."""
    host.say(f"pulling {image}")
    record = host.started(Kind.DEPLOY, tag, image, running)
    done = await host.runner.run(cmd.Command(("docker", "pull", image)), check=False)
    if not done.ok:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        message = f"pull failed before any host switched: {detail[0]}"
        await host.record(host.finish(record, Outcome.PULL_FAILED, message, {}))
        raise PullFailed(f"Could not pull {image}: {detail[0]}")
    pinned = await checked_pin(host, record, {})
    host.pulled[image] = pinned.digest
    return pinned.digest


async def checked_pin(host: HostSession, record: Release, phases: dict[str, float]) -> Release:
    """The pulled record with its digest; a pin the registry's tag contradicts is refused
    (recorded, nothing changed); a pin the registry cannot confirm is kept, with a warning."""
    try:
        pin = await check_pin(host.runner, record.image)
    except InvalidInput as error:
        await host.record(host.finish(record, Outcome.PULL_FAILED, str(error), phases))
        raise
    digest = await host.digest(record.image)
    if pin is not None and pin.warning:
        host.say(f"warning: {pin.warning}")
        return replace(record, digest=digest or split_digest(record.image),
                       message=f"warning: {pin.warning}")  # fmt: skip
    return replace(record, digest=digest)


async def failure_log(host: HostSession, container_id: str | None) -> tuple[str, ...]:
    """Show the last lines of a failed release's container log; a shorter tail for the
    ledger. Never the container's environment."""
    if not container_id:
        return ()
    done = await host.runner.run(cmd.container_logs(container_id, FAILURE_LOG_LINES),
                                 check=False)  # fmt: skip
    shown = cmd.log_tail(done.stdout, FAILURE_LOG_LINES)
    if shown:
        host.say(f"the last {len(shown)} lines of its container's log:")
        for line in shown:
            host.say(f"  | {line}")
    return shown[-LEDGER_LOG_LINES:]
