"""Dependabot: both ecosystems, SchemaStore's schema, and a cooldown on every update."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.dev_tools import dev_tool

ROOT = Path(__file__).resolve().parents[2]
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
# A release must be this many days old before Dependabot proposes it (zizmor's threshold too).
MIN_COOLDOWN_DAYS = 7
DAYS_KEYS = ("default-days", "semver-major-days", "semver-minor-days", "semver-patch-days")
# GitHub refuses these for github-actions and drops the whole entry; the schema allows them.
SEMVER_UNSUPPORTED = {"github-actions"}


def updates() -> list[dict[str, Any]]:
    config = yaml.safe_load(DEPENDABOT.read_text(encoding="utf-8"))
    found = config["updates"]
    assert isinstance(found, list)
    return found


def cooldown_problems(update: dict[str, Any]) -> list[str]:
    """Why an `updates` entry may propose a release younger than MIN_COOLDOWN_DAYS. Pure."""
    ecosystem = update.get("package-ecosystem", "?")
    cooldown = update.get("cooldown")
    if not isinstance(cooldown, dict):
        return [f"{ecosystem}: no cooldown"]
    problems = []
    if "default-days" not in cooldown:
        problems.append(f"{ecosystem}: cooldown has no default-days")
    for key in DAYS_KEYS:
        days = cooldown.get(key, MIN_COOLDOWN_DAYS)
        if not isinstance(days, int) or days < MIN_COOLDOWN_DAYS:
            problems.append(f"{ecosystem}: cooldown.{key} is {days!r}, under {MIN_COOLDOWN_DAYS}")
        if key.startswith("semver-") and key in cooldown and ecosystem in SEMVER_UNSUPPORTED:
            problems.append(f"{ecosystem}: cooldown.{key} is refused for this ecosystem")
    if cooldown.get("include", ["*"]) != ["*"] or "exclude" in cooldown:
        problems.append(f"{ecosystem}: the cooldown leaves some dependencies out")
    return problems


@pytest.mark.parametrize(
    ("update", "problem"),
    [
        ({"package-ecosystem": "pip", "cooldown": {"default-days": 7}}, None),
        ({"package-ecosystem": "pip", "cooldown": {"default-days": 7, "semver-major-days": 14}},
         None),
        ({"package-ecosystem": "pip", "cooldown": {"default-days": 7, "include": ["*"]}}, None),
        ({"package-ecosystem": "pip"}, "no cooldown"),
        ({"package-ecosystem": "pip", "cooldown": None}, "no cooldown"),
        ({"package-ecosystem": "pip", "cooldown": {"semver-major-days": 14}}, "no default-days"),
        ({"package-ecosystem": "pip", "cooldown": {"default-days": 3}}, "default-days is 3"),
        ({"package-ecosystem": "pip", "cooldown": {"default-days": "7"}}, "default-days is '7'"),
        ({"package-ecosystem": "pip", "cooldown": {"default-days": 7, "semver-patch-days": 0}},
         "semver-patch-days is 0"),
        ({"package-ecosystem": "github-actions",
          "cooldown": {"default-days": 7, "semver-major-days": 14}}, "refused"),
        ({"package-ecosystem": "pip", "cooldown": {"default-days": 7, "include": ["fastapi"]}},
         "leaves some"),
        ({"package-ecosystem": "pip", "cooldown": {"default-days": 7, "exclude": ["fastapi"]}},
         "leaves some"),
    ],
)  # fmt: skip
def test_the_cooldown_check(update: dict[str, Any], problem: str | None) -> None:
    found = cooldown_problems(update)
    if problem is None:
        assert found == []
    else:
        assert any(problem in text for text in found), found


def test_dependabot_updates_actions_and_pip() -> None:
    by_ecosystem = {u["package-ecosystem"]: u for u in updates()}
    assert set(by_ecosystem) == {"github-actions", "pip"}
    assert by_ecosystem["github-actions"]["directory"] == "/"
    assert set(by_ecosystem["pip"]["directories"]) == {"/", "/app"}
    result = subprocess.run(
        [dev_tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(DEPENDABOT)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_update_waits_out_a_cooldown() -> None:
    for update in updates():
        assert cooldown_problems(update) == []
