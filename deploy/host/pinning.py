"""A pinned reference (TAG@sha256:...) must agree with the registry's TAG, asked on the host."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deploy.commands import Command
from deploy.errors import InvalidInput

if TYPE_CHECKING:
    from deploy.host.runner import Runner

PULLED_DIGEST = re.compile(r"^Digest:\s*(sha256:[0-9a-f]{64})\s*$", re.MULTILINE)
NO_SUCH_TAG = ("manifest unknown", "not found", "manifest for")


@dataclass(frozen=True, slots=True)
class PinCheck:
    """What the registry said about a pinned reference: agreed, or why it could not say."""

    agreed: bool
    registry_digest: str | None
    warning: str | None = None


def split_pin(image: str) -> tuple[str, str] | None:
    """`reg/app:v3@sha256:..` → (`reg/app:v3`, `sha256:..`); None when not pinned by tag."""
    name, at, digest = image.partition("@")
    if not at or ":" not in name.rsplit("/", 1)[-1]:
        return None
    return name, digest


def pull_tag(reference: str) -> Command:
    """Pull the tag alone: the registry answers with the digest the tag names now."""
    return Command(("docker", "pull", reference))


def judge_pin(pinned: str, reference: str, exit_status: int, output: str) -> PinCheck:
    """Pure: the tag pull's answer → agreed, refused (InvalidInput) or unknown (a warning)."""
    found = PULLED_DIGEST.search(output) if exit_status == 0 else None
    if found is not None:
        if found.group(1) != pinned:
            raise InvalidInput(
                f"{reference} is {found.group(1)} in the registry, not the pinned {pinned}: "
                "refused before anything changed. Pin the digest the tag has, or deploy the "
                "tag alone."
            )
        return PinCheck(True, pinned)
    lowered = output.lower()
    if exit_status != 0 and any(words in lowered for words in NO_SUCH_TAG):
        raise InvalidInput(
            f"{reference} does not exist in the registry, so it cannot be {pinned}: refused "
            "before anything changed."
        )
    return PinCheck(False, None, (
        f"could not ask the registry which digest {reference} has; recorded as {pinned}, "
        "the digest that runs"
    ))


async def check_pin(runner: Runner, image: str) -> PinCheck | None:
    """None for an unpinned image; otherwise the registry's verdict (raises on a mismatch)."""
    pin = split_pin(image)
    if pin is None:
        return None
    reference, pinned = pin
    done = await runner.run(pull_tag(reference), check=False)
    return judge_pin(pinned, reference, done.exit_status, f"{done.stdout}\n{done.stderr}")
