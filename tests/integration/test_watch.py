"""Blue-green's watch on the rig: the proxy's log followed over SSH (and nothing left running on
the host), and a bad release under load switched back with what users saw in the ledger."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import anyio
import pytest

from deploy import commands as cmd
from deploy.cli.main import main
from deploy.host.remote import connect
from deploy.watch_policy import SETTLE_SECONDS
from tests.integration.bluegreen_helpers import Traffic, bg_environ, history_on_host, public_version
from tests.integration.deploy_helpers import make_target
from tests.rig.apppath import AppPath
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig


def processes_naming(path: Path | str, wait: float = 5.0) -> list[str]:
    """Processes on the host (this machine) whose command line names `path`, once they had
    `wait` seconds to end (closing a channel reaches the host's processes asynchronously)."""
    deadline = time.monotonic() + wait
    while True:
        found = subprocess.run(["pgrep", "-af", str(path)], capture_output=True, text=True,
                               check=False).stdout.splitlines()  # fmt: skip
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.anyio
async def test_a_followed_log_streams_its_lines_and_leaves_no_process_on_the_host(
    ssh_host: SshHost, app_path: AppPath,
) -> None:
    log = app_path.path / "followed.log"
    log.write_text("before the offset\n")
    target = make_target(ssh_host, app_path)
    command = cmd.follow_from(str(log), len("before the offset\n"), 30)
    async with connect(target) as runner:
        async with runner.follow(command) as lines:
            with log.open("a") as handle:
                handle.write("one\ntwo\n")
            with anyio.fail_after(10):
                assert [await anext(lines), await anext(lines)] == ["one", "two"]
            with log.open("a") as handle:
                handle.write("three\n")
            with anyio.fail_after(10):
                assert await anext(lines) == "three"  # as it is written, not at the end
            assert processes_naming(log, wait=0) != []
        assert processes_naming(log) == []
        with anyio.move_on_after(0.5):  # cancelled while waiting for a line that never comes
            async with runner.follow(command) as lines:
                async for _ in lines:
                    pass
        assert processes_naming(log) == []
        assert (await runner.run(cmd.Command(("true",)))).ok  # the connection is still good


def test_a_bad_release_under_load_is_switched_back_and_the_ledger_counts_what_users_saw(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab_image("bg1")
    lab_image("sour", sour=True)
    environ = bg_environ(ssh_host, app_path, proxy_image, watch="20")
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    capsys.readouterr()
    loads = [Traffic(pause=0.01) for _ in range(3)]  # ~150 requests/s together on the rig
    for load in loads:
        load.__enter__()
    try:
        assert main(["staging", "up", "sour-lab"], environ) == 1
    finally:
        for load in loads:
            load.__exit__(None, None, None)
    users_got = sum(load.statuses["500"] for load in loads)
    assert {status for load in loads for status in load.failures} == {"500"}
    assert public_version() == "bg1"
    failed, back = history_on_host(app_path)[-2:]
    assert (failed.tag, failed.outcome.value, back.kind.value) == ("sour-lab", "failed",
                                                                   "auto_rollback")
    # Every 500 the clients got was logged by the proxy for the new colour and counted.
    assert failed.user_errors == users_got > 0
    window = dict(failed.phases)["user_visible"]
    assert 0 < window < dict(failed.phases)["watch"] + dict(back.phases)["switch_back"] + 5
    told = f"users got {users_got} answers 5xx over {window:.2f}s"
    assert told in failed.message
    assert told in capsys.readouterr().err
    assert processes_naming(app_path.path / "proxy" / "logs" / "access.log") == []


def test_a_reload_signal_that_does_not_take_is_followed_by_the_checked_switch(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lab_image("bg1")
    lab_image("sour", sour=True)
    environ = bg_environ(ssh_host, app_path, proxy_image, watch="20")
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    # A proxy whose PID 1 ignores SIGHUP: the "switch back" only reads the host's clock.
    monkeypatch.setattr(cmd, "proxy_signal_back", lambda *_: cmd.host_clock())
    with Traffic() as traffic:
        assert main(["staging", "up", "sour-lab"], environ) == 1
    assert public_version() == "bg1"
    failed, back = history_on_host(app_path)[-2:]
    assert (back.kind.value, back.outcome.value) == ("auto_rollback", "healthy")
    assert dict(back.phases)["switch_back"] >= SETTLE_SECONDS  # it waited for the old colour
    assert failed.user_errors == traffic.statuses["500"]
    assert not (app_path.path / "proxy" / "conf" / "live.upstream.back").exists()
