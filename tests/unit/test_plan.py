"""The release rules, as a table and as properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ci.errors import PlanError
from ci.plan import (
    IMAGE_TAG_PATTERN,
    Environment,
    ImageAction,
    Stage,
    plan_release,
)

SHA = "0123456789abcdef0123456789abcdef01234567"
SHA_TAG = "sha-0123456789ab"
VERIFY = ["build", "smoke", "test", "scan"]

RULES = [
    # ref, event, action, stages, tags, environment
    ("refs/heads/develop", "push", "build", [*VERIFY, "publish"], ["latest", SHA_TAG], None),
    (
        "refs/heads/main",
        "push",
        "build",
        [*VERIFY, "publish", "deploy", "loadtest"],
        ["staging", SHA_TAG],
        "staging",
    ),
    (
        "refs/heads/main",
        "workflow_dispatch",
        "build",
        [*VERIFY, "publish", "deploy", "loadtest"],
        ["staging", SHA_TAG],
        "staging",
    ),
    ("refs/tags/v1.2.3", "push", "promote", ["promote", "deploy"], ["v1.2.3"], "production"),
    ("refs/tags/v0.0.1", "push", "promote", ["promote", "deploy"], ["v0.0.1"], "production"),
    (
        "refs/tags/v1.3.0-rc.1",
        "push",
        "promote",
        ["promote", "deploy", "loadtest"],
        ["v1.3.0-rc.1"],
        "staging",
    ),
    ("refs/pull/42/merge", "pull_request", "build", VERIFY, [], None),
    ("refs/heads/main", "pull_request", "build", VERIFY, [], None),
    ("refs/heads/feature/login", "push", "build", VERIFY, [], None),
    ("refs/heads/release-1.x", "push", "build", VERIFY, [], None),
    ("refs/heads/develop", "schedule", "build", VERIFY, [], None),
]


@pytest.mark.parametrize(("ref", "event", "action", "stages", "tags", "environment"), RULES)
def test_release_rules(
    ref: str,
    event: str,
    action: str,
    stages: list[str],
    tags: list[str],
    environment: str | None,
) -> None:
    plan = plan_release(ref, SHA, event)
    assert plan.action == action
    assert list(plan.stages) == stages
    assert list(plan.tags) == tags
    assert plan.environment == environment
    assert plan.source_tag == SHA_TAG


REFUSED = [
    "refs/tags/v1.2",
    "refs/tags/1.2.3",
    "refs/tags/v01.2.3",
    "refs/tags/v1.2.3+build.7",
    "refs/tags/release-1",
    "refs/tags/v1.2.3;id",
    "refs/heads/main;rm -rf /",
    "refs/heads/$(id)",
    "refs/heads/a..b",
    "refs/heads/-x",
    "refs/heads/x.lock",
    "refs/heads/ma\u0456n",  # Cyrillic i
    "refs/heads/main\n",
    "refs/heads/" + "a" * 300,
    "main",
    "",
    "refs/pull/0/merge",
]


@pytest.mark.parametrize("ref", REFUSED)
def test_refused_refs_name_the_value(ref: str) -> None:
    with pytest.raises(PlanError) as caught:
        plan_release(ref, SHA, "push")
    assert caught.value.value == ref
    shown = ref.removeprefix("refs/tags/")[:40] if ref else "empty"
    assert shown.strip() in str(caught.value)


@pytest.mark.parametrize("sha", ["", "abc", SHA.upper(), SHA + "0", SHA[:-1] + "g"])
def test_bad_sha_is_refused(sha: str) -> None:
    with pytest.raises(PlanError, match="40 lowercase hex") as caught:
        plan_release("refs/heads/main", sha)
    assert caught.value.value == sha


def test_unknown_event_is_refused() -> None:
    with pytest.raises(PlanError, match="'release'"):
        plan_release("refs/heads/main", SHA, "release")


def test_plan_json_is_stable() -> None:
    plan = plan_release("refs/tags/v1.2.3", SHA)
    assert plan.to_json() == {
        "schema": 1,
        "ref": "refs/tags/v1.2.3",
        "sha": SHA,
        "event": "push",
        "trigger": "tag",
        "action": "promote",
        "stages": ["promote", "deploy"],
        "source_tag": SHA_TAG,
        "tags": ["v1.2.3"],
        "environment": "production",
        "version": "1.2.3",
    }


refs = st.one_of(
    st.text(max_size=80),
    st.builds(lambda s: "refs/heads/" + s, st.text(max_size=60)),
    st.builds(lambda s: "refs/tags/" + s, st.text(max_size=60)),
    st.builds(
        lambda a, b, c, pre: f"refs/tags/v{a}.{b}.{c}{pre}",
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
        st.sampled_from(["", "-rc.1", "-beta", "-0.3.7"]),
    ),
    st.sampled_from(["refs/heads/main", "refs/heads/develop", "refs/pull/7/merge"]),
)
events = st.sampled_from(["push", "pull_request", "workflow_dispatch", "schedule"])
FINAL_TAG = re.compile(r"refs/tags/v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


@given(ref=refs, event=events)
def test_only_final_version_tags_reach_production(ref: str, event: str) -> None:
    try:
        plan = plan_release(ref, SHA, event)
    except PlanError:
        return
    if plan.environment == Environment.PRODUCTION:
        assert FINAL_TAG.fullmatch(ref)
        assert event in {"push", "workflow_dispatch"}


@given(ref=refs, event=events)
def test_every_published_tag_is_a_valid_image_tag(ref: str, event: str) -> None:
    try:
        plan = plan_release(ref, SHA, event)
    except PlanError:
        return
    for tag in (*plan.tags, plan.source_tag):
        assert IMAGE_TAG_PATTERN.fullmatch(tag)


HOSTILE_PIECES = [";", "|", "&", "$", "`", "\n", "\r", " ", "'", '"', "\\", "..", "*", "?",
                  "<", ">", "(", ")", "{", "}", "\u0131", "\u0430", "\u2024", "\uff0e", "\x00"]


@given(
    prefix=st.sampled_from(["refs/heads/", "refs/tags/v1.2.3", "refs/tags/"]),
    body=st.text(alphabet="abc123.-_/", max_size=20),
    piece=st.sampled_from(HOSTILE_PIECES),
    tail=st.text(alphabet="abc123", max_size=5),
)
def test_hostile_refs_are_refused(prefix: str, body: str, piece: str, tail: str) -> None:
    with pytest.raises(PlanError):
        plan_release(prefix + body + piece + tail, SHA)


@given(length=st.integers(201, 400))
def test_overlong_refs_are_refused(length: int) -> None:
    with pytest.raises(PlanError, match="characters long"):
        plan_release("refs/heads/" + "a" * (length - 11), SHA)


def test_stage_order_is_pipeline_order() -> None:
    assert [stage.value for stage in Stage] == [
        "build", "smoke", "test", "scan", "publish", "promote", "deploy", "loadtest",
    ]
    assert ImageAction.PROMOTE.value == "promote"


@given(ref=refs, event=events)
def test_every_staging_deploy_and_only_it_is_load_tested_right_after(ref: str, event: str) -> (
    None
):
    try:
        plan = plan_release(ref, SHA, event)
    except PlanError:
        return
    if plan.environment == Environment.STAGING:
        assert plan.stages[-2:] == (Stage.DEPLOY, Stage.LOADTEST)
    else:
        assert Stage.LOADTEST not in plan.stages
