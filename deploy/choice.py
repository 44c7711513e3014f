"""Pure: the `<ENV>_STRATEGY` setting and what the app folder holds → the strategy a deploy uses."""

from __future__ import annotations

from dataclasses import dataclass

AUTO = "auto"  # `<ENV>_STRATEGY` unset: blue-green from the first deploy, recreate kept as found
STRATEGIES = (AUTO, "recreate", "blue-green", "canary")
HINT_MARKER = ".deploy/zero-downtime-hint"  # in the app folder: the hint was given there


@dataclass(frozen=True, slots=True)
class Folder:
    """What a deploy needs to know of the app folder before it picks a strategy."""

    blue_green: bool = False  # `init`'s layout is there (proxy/conf/live.upstream)
    in_use: bool = False  # the guide's service has a container, or the ledger holds a release
    refused: str | None = None  # why `init` could not lay the compose file out (None: it can)
    hinted: bool = False  # the hint was given in this folder already (HINT_MARKER)


@dataclass(frozen=True, slots=True)
class Choice:
    """The strategy a deploy uses, and what it does first."""

    strategy: str  # recreate, blue-green or canary
    set_up: bool = False  # lay the folder out for blue-green first: `init`'s own code path
    hint: bool = False  # say, this once for the folder, how to get zero downtime


def choose(setting: str, folder: Folder) -> Choice:
    """`recreate` is kept as set. Blue-green and canary set up a folder where nothing runs yet;
    asked for by name on a folder in use they are left to refuse (run `init`). Unset (`auto`):
    blue-green where nothing runs yet or `init` laid it out, else recreate and a hint, once."""
    if setting == "recreate":
        return Choice("recreate")
    wanted = "blue-green" if setting == AUTO else setting
    if folder.blue_green:
        return Choice(wanted)
    if setting != AUTO:
        return Choice(wanted, set_up=not folder.in_use)
    if folder.in_use or folder.refused is not None:
        return Choice("recreate", hint=not folder.hinted)
    return Choice("blue-green", set_up=True)


def hint_text(folder: Folder, *, environment: str, prefix: str, app_path: str) -> str:
    """What `up` says once in a folder that keeps recreate because the setting is unset."""
    keep = f"set {prefix}_STRATEGY=recreate to keep recreate and silence this (said once here)"
    if folder.in_use:
        how = (f"`python -m deploy {environment} init` turns it into blue-green, adopting the "
               "release that runs")  # fmt: skip
        if folder.refused is not None:
            how += f" (as the compose file is, init refuses it: {folder.refused})"
        return (f"{app_path} already runs with recreate, so this deploy recreates the service and "
                f"requests are refused for about a second. Zero downtime: {how}; {keep}.")
    return (f"{app_path} deploys with recreate: blue-green from the first deploy needs the "
            f"guide's single-service compose file, and {folder.refused}. Fix it for zero "
            f"downtime, or {keep}.")  # fmt: skip
