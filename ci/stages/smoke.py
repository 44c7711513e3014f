"""The smoke stage: the built image runs as a service and must answer /health as itself."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ci.errors import CiError
from ci.scans.tools import Step
from ci.stages.context import DebugSite, StageContext
from ci.stages.steps import SUCCESS_ONLY, must_succeed, run_steps

if TYPE_CHECKING:
    import dagger

PORT = 8000
ALIAS = "app"
WAIT_SECONDS = 60
# Polls the service until it answers or the wait is over; prints the answer's body.
PROBE = """\
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            print(answer.read().decode())
            break
    except OSError as error:
        if time.monotonic() > deadline:
            sys.exit(f"no answer from {url} in {sys.argv[2]}s: {error}")
        time.sleep(0.25)
"""
PROBE_STEP = Step(
    ("python3", "-c", PROBE, f"http://{ALIAS}:{PORT}/health", str(WAIT_SECONDS)), SUCCESS_ONLY
)


def judge(uid: str, health: str, commit: str) -> list[str]:
    """What is wrong with a started image: root user, no /health, another commit. Pure."""
    problems = []
    if uid.strip() in ("", "0"):
        problems.append(f"the image runs as uid {uid.strip() or '?'} (root): set USER to a "
                        "non-root user in the Dockerfile")
    try:
        answer = json.loads(health)
    except json.JSONDecodeError:
        return [*problems, f"/health did not answer JSON: {health.strip()[:200]!r}"]
    if not isinstance(answer, dict) or answer.get("status") != "ok":
        problems.append(f"/health answered {health.strip()[:200]}, not status ok")
    elif answer.get("commit") != commit:
        problems.append(f"/health reports commit {answer.get('commit')!r}, not {commit[:12]}: "
                        "the image was not built from this commit")
    return problems


def service(image: dagger.Container) -> dagger.Service:
    """The image's own command, listening on all its interfaces, as a Dagger service."""
    return image.with_env_variable("HOST", "0.0.0.0").with_exposed_port(PORT).as_service()  # noqa: S104


async def run(ctx: StageContext) -> str:
    image = ctx.image()
    uid_run = await run_steps(image, must_succeed(("id", "-u")))
    client = image.with_service_binding(ALIAS, service(image))
    probed = await run_steps(client, (PROBE_STEP,))
    for failure in (uid_run.failure, probed.failure):
        if failure is not None:
            raise ctx.step_failed("smoke", failure)
    problems = judge(await uid_run.container.stdout(), await probed.container.stdout(),
                     ctx.plan.sha)
    if problems:
        ctx.failed_at("smoke", DebugSite(client, PROBE_STEP.argv))
        raise CiError("stage 'smoke' failed: " + "; ".join(problems) + ".")
    return f"the image answers /health as {ctx.plan.sha[:12]}, as a non-root user"
