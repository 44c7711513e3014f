"""What an app folder holds, read for the strategy choice (deploy/choice.py), and its hint."""

from __future__ import annotations

import json

from deploy import commands as cmd
from deploy.choice import HINT_MARKER, Folder, hint_text
from deploy.host.session import HostSession, now_iso
from deploy.layout import guide_problems, is_blue_green
from deploy.proxy import LIVE_FILE


async def read_folder(host: HostSession) -> Folder:
    """Blue-green when `init`'s live.upstream is there; else whether the guide's service ever
    ran here (a container, running or not, or a release in the ledger) and whether `init`
    could lay the compose file out."""
    if await host.runner.read_file(host.file(LIVE_FILE)) is not None:
        return Folder(blue_green=True)
    service = host.target.service
    found = await host.runner.run(cmd.compose_any_container(host.tool, host.path, service),
                                  check=False)  # fmt: skip
    in_use = bool(found.ok and found.stdout.split()) or bool(await host.history())
    return Folder(in_use=in_use, refused=await refused(host),
                  hinted=await host.runner.read_file(host.file(HINT_MARKER)) is not None)


async def refused(host: HostSession) -> str | None:
    """Why `init` would not lay this compose file out, or None when it would."""
    found = await host.runner.run(cmd.compose_model(host.tool, host.path), check=False)
    if not found.ok:
        why = (found.stderr or found.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"`docker compose config` failed ({why[0]}; Compose v2 is needed)"
    try:
        model = json.loads(found.stdout)
    except ValueError:
        return "`docker compose config` did not print JSON (Compose v2 is needed)"
    if is_blue_green(model):
        return f"the compose file is a blue-green layout without {LIVE_FILE}: run init"
    problems = guide_problems(model, service=host.target.service)
    return "; ".join(problems) if problems else None


async def hint_once(host: HostSession, folder: Folder) -> None:
    """Say how to get zero downtime, and leave the marker that says it was said here."""
    target = host.target
    text = hint_text(folder, environment=target.environment, prefix=target.prefix,
                     app_path=host.path)  # fmt: skip
    host.say(f"hint: {text}")
    await host.runner.write_file(host.file(HINT_MARKER), f"{now_iso()} {text}\n")
