"""The Dockerfile: hadolint, and a numeric non-root runtime user (Kubernetes' runAsNonRoot)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.dev_tools import dev_tool

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
# A uid, optionally with a gid: what a runtime can check against runAsNonRoot without /etc/passwd.
NUMERIC_USER = re.compile(r"(?P<uid>\d+)(?::(?P<gid>\d+))?")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, `\\` continuations joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        found.append((keyword.upper(), arguments.strip()))
        pending = ""
    return found


def final_stage(text: str) -> list[tuple[str, str]]:
    """The instructions after the last FROM: a USER of an earlier stage never reaches the image."""
    found = instructions(text)
    starts = [i for i, (keyword, _) in enumerate(found) if keyword == "FROM"]
    return found[starts[-1] + 1 :] if starts else found


def final_stage_user(text: str) -> str | None:
    """The USER the image runs as: the final stage's last USER (None: root, the default)."""
    users = [arguments for keyword, arguments in final_stage(text) if keyword == "USER"]
    return users[-1] if users else None


def runtime_user_problem(user: str | None) -> str | None:
    """Why the runtime user is not one runAsNonRoot accepts, or None. Pure."""
    if user is None:
        return "the final stage sets no USER, so the image runs as root"
    found = NUMERIC_USER.fullmatch(user)
    if found is None:
        return f"USER {user}: name the user by number (uid or uid:gid), not by name"
    if int(found["uid"]) == 0:
        return f"USER {user}: uid 0 is root"
    return None


@pytest.mark.parametrize(
    ("dockerfile", "problem"),
    [
        ("FROM base\nUSER 10001:10001\n", None),
        ("FROM base\nUSER 10001\n", None),
        ("FROM base\nUSER app\n", "by number"),
        ("FROM base\nUSER root\n", "by number"),
        ("FROM base\nUSER app:app\n", "by number"),
        ("FROM base\nUSER 10001:app\n", "by number"),
        ("FROM base\nUSER 0\n", "root"),
        ("FROM base\nUSER 0:10001\n", "root"),
        ("FROM base\nUSER 00\n", "root"),
        ("FROM base\nRUN true\n", "no USER"),
        ("FROM base AS deps\nUSER 10001\nFROM base AS runtime\nRUN true\n", "no USER"),
        ("FROM base\nUSER 10001\nRUN make\nUSER root\n", "by number"),
        ("FROM base\nUSER 0\nFROM base\n# USER 0\nuser 10001:10001\n", None),
        ("FROM base\nRUN a \\\n  # USER root\n  && b\nUSER 10001\n", None),
    ],
)
def test_the_runtime_user_check(dockerfile: str, problem: str | None) -> None:
    found = runtime_user_problem(final_stage_user(dockerfile))
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    user = final_stage_user(DOCKERFILE.read_text(encoding="utf-8"))
    assert runtime_user_problem(user) is None


def test_the_image_creates_its_user_and_group_with_the_ids_it_runs_as() -> None:
    """USER names ids the final stage creates, so `id` and file owners read `app`."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    found = NUMERIC_USER.fullmatch(final_stage_user(text) or "")
    assert found is not None
    created = " ".join(args for keyword, args in final_stage(text) if keyword == "RUN")
    assert re.search(rf"\buseradd\b[^&;]* --uid {found['uid']}\b", created), created
    gid = found["gid"] or found["uid"]
    assert re.search(rf"\bgroupadd\b[^&;]* --gid {gid}\b", created), created
    assert re.search(rf"\buseradd\b[^&;]* --gid {gid}\b", created), created
    assert re.search(rf"\bchown {found['uid']}:{gid} /app/data\b", created), created


def test_compose_runs_the_image_as_its_own_user() -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    user = final_stage_user(DOCKERFILE.read_text(encoding="utf-8"))
    assert compose["services"]["api"]["user"] == user


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [dev_tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
