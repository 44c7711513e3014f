"""Getting a release's image onto the host (pull, or reuse for a rollback), checking a
pinned reference, and showing a failed release's log."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from deploy import commands as cmd
from deploy.errors import InvalidInput
from deploy.ledger import Kind, Outcome, Release
from deploy.pinning import check_pin

if TYPE_CHECKING:
    from deploy.deployer import Deployer

FAILURE_LOG_LINES = 20  # lines of a failed release's log shown to the user
LEDGER_LOG_LINES = 8  # of those, the lines kept in its ledger record


def split_digest(image: str) -> str | None:
    """The `sha256:..` an image reference is pinned to, if any."""
    return image.partition("@")[2] or None


async def pull_unless_present(
    host: Deployer, record: Release, phases: dict[str, float], command: cmd.Command | None = None
) -> Release:
    """Pull a deploy's image; a rollback to an image still on the host skips the pull
    (it works with the registry unreachable)."""
    if record.kind is not Kind.DEPLOY:
        present = await host.runner.run(cmd.image_present(record.image), check=False)
        if present.ok:
            host.say(f"{record.image} is on the host: no pull")
            record = replace(record, digest=await host.digest(record.image))
            await host.record(record)
            return record
    return await host.pull(record, phases, command)


async def checked_pin(host: Deployer, record: Release, phases: dict[str, float]) -> Release:
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


async def failure_log(host: Deployer, container_id: str | None) -> tuple[str, ...]:
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
