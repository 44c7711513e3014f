"""The canary's CLI surface: promote, abort, --force --reason, and the status lines."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from deploy.cli.main import build_parser, main, show_canary
from deploy.strategies.base import CanaryView


@pytest.mark.parametrize(
    ("argv", "command", "force", "reason"),
    [
        (["production", "promote"], "promote", None, None),
        (["production", "abort"], "abort", None, None),
        (["production", "up", "v1", "--force", "--reason", "INC-1"], "up", True, "INC-1"),
        (["production", "up", "v1"], "up", False, None),
    ],
)
def test_commands_parse(argv: list[str], command: str, force: bool | None,
                        reason: str | None) -> None:  # fmt: skip
    args = build_parser().parse_args(argv)
    assert args.command == command
    assert getattr(args, "force", None) == force
    assert getattr(args, "reason", None) == reason


def test_status_shows_step_weights_and_numbers() -> None:
    out = io.StringIO()
    view = CanaryView(2, 3, "50 % until promote", True, {"blue": 50, "green": 50},
                      {"green": "1000 requests, 0 5xx (0.0%), p95 3 ms"})  # fmt: skip
    show_canary(view, Console(file=out, width=200, highlight=False, markup=False))
    assert out.getvalue().splitlines() == [
        "  canary: step 2/3, 50 % until promote; paused (promote or abort)",
        "  weights: blue 50 %, green 50 %",
        "    green 1000 requests, 0 5xx (0.0%), p95 3 ms since the step began",
    ]


def test_bad_canary_steps_are_refused_before_any_connection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = {"STAGING_HOST": "127.0.0.1", "STAGING_USERNAME": "deployer",
               "STAGING_SSH_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH "
               "PRIVATE KEY-----", "STAGING_KNOWN_HOSTS": "[127.0.0.1]:1 ssh-ed25519 AAAA",
               "STAGING_APP_PATH": "/srv/app", "STAGING_STRATEGY": "canary",
               "STAGING_CANARY_STEPS": "10:60,50:60"}  # fmt: skip
    assert main(["staging", "up", "v1"], environ) == 2
    assert "STAGING_CANARY_STEPS: '10:60,50:60' is refused" in capsys.readouterr().err
