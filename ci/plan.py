"""Pure release rules: git ref + commit + event → ReleasePlan."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import semver

from ci.errors import PlanError

SHA_PATTERN = re.compile(r"[0-9a-f]{40}")
IMAGE_TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
BRANCH_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
PULL_REF_PATTERN = re.compile(r"refs/pull/([1-9][0-9]{0,9})/(merge|head)")
VERSION_TAG_PATTERN = re.compile(r"v(?P<version>[0-9A-Za-z.-]+)")
MAX_REF_LENGTH = 200
PLAN_SCHEMA_VERSION = 1

PUBLISHING_EVENTS = frozenset({"push", "workflow_dispatch"})
VERIFY_ONLY_EVENTS = frozenset({"pull_request", "pull_request_target", "merge_group", "schedule"})


class Stage(StrEnum):
    """A step of the pipeline, in the order it runs."""

    BUILD = "build"
    SMOKE = "smoke"
    TEST = "test"
    SCAN = "scan"
    PUBLISH = "publish"
    PROMOTE = "promote"
    DEPLOY = "deploy"
    LOADTEST = "loadtest"


class ImageAction(StrEnum):
    """Whether the plan builds a new image or promotes one already tested."""

    BUILD = "build"
    PROMOTE = "promote"


class Environment(StrEnum):
    """Where a plan deploys."""

    STAGING = "staging"
    PRODUCTION = "production"


VERIFY = (Stage.BUILD, Stage.SMOKE, Stage.TEST, Stage.SCAN)


def deploy_stages(environment: Environment | None) -> tuple[Stage, ...]:
    """Deploy where the plan says; a staging deploy is then load-tested (the load gate)."""
    if environment is None:
        return ()
    return (Stage.DEPLOY, Stage.LOADTEST) if environment is Environment.STAGING else (Stage.DEPLOY,)


@dataclass(frozen=True, slots=True)
class ReleasePlan:
    """What one pipeline run does for one commit."""

    ref: str
    sha: str
    event: str
    trigger: str
    action: ImageAction
    stages: tuple[Stage, ...]
    source_tag: str
    tags: tuple[str, ...]
    environment: Environment | None
    version: str

    @property
    def publishes(self) -> bool:
        return bool(self.tags)

    def to_json(self) -> dict[str, Any]:
        """The stable, documented JSON form (see docs/pipeline.md, "The plan as JSON")."""
        return {
            "schema": PLAN_SCHEMA_VERSION,
            "ref": self.ref,
            "sha": self.sha,
            "event": self.event,
            "trigger": self.trigger,
            "action": self.action.value,
            "stages": [stage.value for stage in self.stages],
            "source_tag": self.source_tag,
            "tags": list(self.tags),
            "environment": self.environment.value if self.environment else None,
            "version": self.version,
        }


def immutable_tag(sha: str) -> str:
    """The tag every built image also gets, and promotion starts from."""
    return f"sha-{sha[:12]}"


def plan_release(ref: str, sha: str, event: str = "push") -> ReleasePlan:
    """Apply the release rules; raise PlanError naming the value and the rule."""
    sha = _checked_sha(sha)
    event = _checked_event(event)
    ref = _checked_ref(ref)
    if ref.startswith("refs/pull/") or event in VERIFY_ONLY_EVENTS:
        return _verify_plan(ref, sha, event, trigger="pull_request")
    if ref.startswith("refs/tags/"):
        return _tag_plan(ref, sha, event)
    branch = ref.removeprefix("refs/heads/")
    if branch == "develop":
        return _build_plan(ref, sha, event, tag="latest", environment=None)
    if branch == "main":
        return _build_plan(ref, sha, event, tag="staging", environment=Environment.STAGING)
    return _verify_plan(ref, sha, event, trigger="branch")


def _verify_plan(ref: str, sha: str, event: str, *, trigger: str) -> ReleasePlan:
    return ReleasePlan(
        ref=ref,
        sha=sha,
        event=event,
        trigger=trigger,
        action=ImageAction.BUILD,
        stages=VERIFY,
        source_tag=immutable_tag(sha),
        tags=(),
        environment=None,
        version=f"0.0.0-dev+{sha[:12]}",
    )


def _build_plan(
    ref: str, sha: str, event: str, *, tag: str, environment: Environment | None
) -> ReleasePlan:
    stages = (*VERIFY, Stage.PUBLISH, *deploy_stages(environment))
    return ReleasePlan(
        ref=ref,
        sha=sha,
        event=event,
        trigger="branch",
        action=ImageAction.BUILD,
        stages=stages,
        source_tag=immutable_tag(sha),
        tags=(tag, immutable_tag(sha)),
        environment=environment,
        version=f"0.0.0-{tag}+{sha[:12]}",
    )


def _tag_plan(ref: str, sha: str, event: str) -> ReleasePlan:
    tag = ref.removeprefix("refs/tags/")
    try:
        version = parse_version_tag(tag)
    except PlanError as error:
        raise PlanError(str(error), value=ref) from None
    environment = Environment.STAGING if version.prerelease else Environment.PRODUCTION
    return ReleasePlan(
        ref=ref,
        sha=sha,
        event=event,
        trigger="tag",
        action=ImageAction.PROMOTE,
        stages=(Stage.PROMOTE, *deploy_stages(environment)),
        source_tag=immutable_tag(sha),
        tags=(tag,),
        environment=environment,
        version=str(version),
    )


def parse_version_tag(tag: str) -> semver.Version:
    """`vMAJOR.MINOR.PATCH[-PRERELEASE]` → Version; anything else is a PlanError."""
    rule = "release tags are v + a strict semantic version, e.g. v1.2.3 or v1.3.0-rc.1"
    match = VERSION_TAG_PATTERN.fullmatch(tag)
    if match is None:
        raise PlanError(f"Tag {tag!r} is not a release tag: {rule}.", value=tag)
    try:
        version = semver.Version.parse(match["version"])
    except ValueError:
        raise PlanError(f"Tag {tag!r} is not a release tag: {rule}.", value=tag) from None
    if not IMAGE_TAG_PATTERN.fullmatch(tag):
        raise PlanError(f"Tag {tag!r} cannot be an image tag: {rule}.", value=tag)
    return version


def _checked_sha(sha: str) -> str:
    if not SHA_PATTERN.fullmatch(sha):
        raise PlanError(
            f"Commit SHA {sha!r} is not 40 lowercase hex digits: pass the full commit id "
            "(git rev-parse HEAD).",
            value=sha,
        )
    return sha


def _checked_event(event: str) -> str:
    known = PUBLISHING_EVENTS | VERIFY_ONLY_EVENTS
    if event not in known:
        raise PlanError(
            f"Event {event!r} is not one the pipeline plans for: use one of "
            f"{', '.join(sorted(known))}.",
            value=event,
        )
    return event


def _checked_ref(ref: str) -> str:
    rule = (
        "a ref is refs/heads/BRANCH, refs/tags/vX.Y.Z or refs/pull/N/merge, at most "
        f"{MAX_REF_LENGTH} characters of A-Z a-z 0-9 . _ / -, without '..' or '//'"
    )
    if not ref:
        raise PlanError(f"The ref is empty: {rule}.", value=ref)
    if len(ref) > MAX_REF_LENGTH:
        raise PlanError(f"Ref {ref[:40]!r}... is {len(ref)} characters long: {rule}.", value=ref)
    if PULL_REF_PATTERN.fullmatch(ref):
        return ref
    for prefix in ("refs/heads/", "refs/tags/"):
        name = ref.removeprefix(prefix)
        if name != ref and _is_safe_name(name):
            return ref
    raise PlanError(f"Ref {ref!r} is refused: {rule}.", value=ref)


def _is_safe_name(name: str) -> bool:
    return (
        BRANCH_PATTERN.fullmatch(name) is not None
        and ".." not in name
        and "//" not in name
        and not name.endswith(("/", ".", ".lock"))
    )
