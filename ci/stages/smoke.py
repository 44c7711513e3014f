"""The smoke stage: the built image runs as a service on the declared port and must answer its
health path as the declaration expects, as this commit's build, as a non-root user."""

from __future__ import annotations

import json
from dataclasses import dataclass

import dagger

from ci.errors import CiError
from ci.scans.tools import Step
from ci.stages.context import DebugSite, StageContext
from ci.stages.steps import SUCCESS_ONLY, must_succeed, run_steps
from shipyard.declaration import Declaration
from shipyard.health import clip, judge_answer
from shipyard.identity import REVISION_LABEL, identity_problem

WAIT_SECONDS = 60
# Polls URL until it answers with one of STATUSES (comma-separated) or the wait is over;
# prints the last answer as one JSON line: {"status": code, "body": text}.
PROBE = """\
import http.client, json, sys, time, urllib.error, urllib.request
url, wait, statuses = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(",")
deadline, last = time.monotonic() + wait, None
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            last = {"status": answer.status, "body": answer.read().decode(errors="replace")}
    except urllib.error.HTTPError as error:
        last = {"status": error.code, "body": error.read().decode(errors="replace")}
    except (OSError, http.client.HTTPException) as error:
        reason = error
    if last is not None and (str(last["status"]) in statuses or time.monotonic() > deadline):
        print(json.dumps(last))
        break
    if time.monotonic() > deadline:
        sys.exit(f"no answer from {url} in {sys.argv[2]}s: {reason}")
    time.sleep(0.25)
"""


@dataclass(frozen=True, slots=True)
class Probe:
    """What the probe reported: the health answer's status and body."""

    status: int
    body: str


def probe_step(declaration: Declaration) -> Step:
    url = f"http://{declaration.name}:{declaration.port}{declaration.health.path}"
    statuses = ",".join(str(code) for code in declaration.health.status)
    return Step(("python3", "-c", PROBE, url, str(WAIT_SECONDS), statuses), SUCCESS_ONLY)


def read_probe(output: str) -> Probe | str:
    """The probe's JSON line, or what is wrong with it. Pure."""
    try:
        answer = json.loads(output.strip().splitlines()[-1])
        return Probe(int(answer["status"]), str(answer["body"]))
    except (IndexError, ValueError, KeyError, TypeError):
        return f"the health probe printed {clip(output)!r}, not its answer"


def judge(
    declaration: Declaration, uid: str, probe: str, commit: str, revision: str | None = None
) -> list[str]:
    """What is wrong with a started image: root user, an unhealthy answer, another commit's
    build (by the health answer or the image's revision label, as declared). Pure."""
    problems = []
    if uid.strip() in ("", "0"):
        problems.append(f"the image runs as uid {uid.strip() or '?'} (root): set USER to a "
                        "non-root user in the Dockerfile")
    answer = read_probe(probe)
    if isinstance(answer, str):
        return [*problems, answer]
    unhealthy = judge_answer(declaration.health, answer.status, answer.body)
    if unhealthy is not None:
        return [*problems, unhealthy]
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    wrong = identity_problem(declaration.identity, commit, answer=body, revision=revision,
                             where=declaration.health.path)
    return problems if wrong is None else [*problems, wrong]


def service(image: dagger.Container, port: int) -> dagger.Service:
    """The image's own command, listening on all its interfaces, as a Dagger service."""
    return image.with_env_variable("HOST", "0.0.0.0").with_exposed_port(port).as_service()  # noqa: S104


async def revision_label(ctx: StageContext) -> str | None:
    """The built image's revision label, read only when it is what proves the build."""
    if ctx.declaration.identity.source != "revision-label":
        return None
    return await ctx.image().label(REVISION_LABEL)


async def run(ctx: StageContext) -> str:
    declaration, image = ctx.declaration, ctx.image()
    uid_run = await run_steps(image, must_succeed(("id", "-u")))
    client = image.with_service_binding(declaration.name, service(image, declaration.port))
    probe = probe_step(declaration)
    probed = await run_steps(client, (probe,))
    for failure in (uid_run.failure, probed.failure):
        if failure is not None:
            raise ctx.step_failed("smoke", failure)
    problems = judge(declaration, await uid_run.container.stdout(),
                     await probed.container.stdout(), ctx.plan.sha, await revision_label(ctx))
    if problems:
        ctx.failed_at("smoke", DebugSite(client, probe.argv))
        raise CiError("stage 'smoke' failed: " + "; ".join(problems) + ".")
    proof = ("its revision label" if declaration.identity.source == "revision-label"
             else f"its {declaration.identity.field!r}")
    return (f"the image answers {declaration.health.path} on port {declaration.port} as "
            f"{ctx.plan.sha[:12]} ({proof}), as a non-root user")
