"""Where we run: GitHub Actions variables, or else the local git checkout → ref, sha, event."""

from __future__ import annotations

import os
import subprocess  # nosec B404 - git with fixed argv, no shell
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ci.errors import ContextError


@dataclass(frozen=True, slots=True)
class RunContext:
    """The ref, commit and event a pipeline run is for."""

    ref: str
    sha: str
    event: str
    in_ci: bool


def detect_context(
    environ: Mapping[str, str] | None = None, repo: Path | None = None
) -> RunContext:
    """GitHub Actions variables when present; otherwise ask git about `repo`."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") == "true" or env.get("GITHUB_REF"):
        missing = [name for name in ("GITHUB_REF", "GITHUB_SHA") if not env.get(name)]
        if missing:
            raise ContextError(
                f"GitHub Actions variable {missing[0]} is not set: run inside a workflow "
                "or pass --ref and --sha."
            )
        return RunContext(
            ref=env["GITHUB_REF"],
            sha=env["GITHUB_SHA"],
            event=env.get("GITHUB_EVENT_NAME") or "push",
            in_ci=True,
        )
    return _git_context(repo or Path.cwd())


def _git_context(repo: Path) -> RunContext:
    sha = _git(repo, "rev-parse", "HEAD")
    if sha is None:
        raise ContextError(
            f"{repo} is not a git checkout with a commit: run from the repository, "
            "or pass --ref and --sha."
        )
    ref = _git(repo, "symbolic-ref", "-q", "HEAD")
    if ref is None:
        tag = _git(repo, "describe", "--exact-match", "--tags", "HEAD")
        if tag is None:
            raise ContextError(
                f"HEAD of {repo} is detached and not on a tag: check out a branch or pass --ref."
            )
        ref = f"refs/tags/{tag}"
    return RunContext(ref=ref, sha=sha, event="push", in_ci=False)


def commit_time(repo: Path, sha: str) -> int | None:
    """The commit's committer time (seconds since 1970), or None when git cannot tell."""
    found = _git(repo, "show", "-s", "--format=%ct", f"{sha}^{{commit}}")
    return int(found) if found and found.isdigit() else None


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(  # nosec B603 B607 - fixed git argv
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    output = done.stdout.strip()
    return output if done.returncode == 0 and output else None
