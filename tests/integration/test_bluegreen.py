"""Blue-green on the real loopback rig: nginx proxy, two colours, switch, watch, rollback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from deploy.cli.main import main
from deploy.ledger import Outcome
from tests.integration.bluegreen_helpers import (
    EventStream,
    Traffic,
    bg_environ,
    history_on_host,
    outcomes,
    public_version,
)
from tests.integration.deploy_helpers import cuttable_proxy, target_environ
from tests.rig.apppath import AppPath
from tests.rig.images import BuildAppImage
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig


@pytest.fixture
def lab(lab_image: LabImages, proxy_image: str) -> dict[str, str]:
    return {"bg1": lab_image("bg1"), "bg2": lab_image("bg2"), "sour": lab_image("sour", sour=True)}


def test_deploy_switches_without_dropping_a_request_and_rolls_back_instantly(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = bg_environ(ssh_host, app_path, proxy_image)
    assert main(["staging", "init"], environ) == 0
    assert "nothing was running" in capsys.readouterr().out
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    assert public_version() == "bg1"
    with Traffic() as traffic:
        assert main(["staging", "up", "bg2-lab"], environ) == 0
    assert traffic.failures == {}
    assert traffic.versions.keys() == {"bg1", "bg2"}
    assert public_version() == "bg2"
    capsys.readouterr()
    assert main(["staging", "status", "--json"], environ) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["strategy"], status["tag"], status["healthy"]) == ("blue-green", "bg2-lab", True)
    colours = {c["colour"]: c for c in status["layout"]["colours"]}
    assert status["layout"]["serving_colour"] == "green"
    assert (colours["blue"]["tag"], colours["blue"]["state"]) == ("bg1-lab", "exited")
    assert (colours["green"]["tag"], colours["green"]["state"]) == ("bg2-lab", "running")
    assert status["layout"]["proxy"] == "running"
    last = history_on_host(app_path)[-1]
    assert dict(last.phases).keys() >= {"pull", "start", "healthy", "switch", "watch", "drain"}
    with Traffic() as traffic:
        assert main(["staging", "rollback"], environ) == 0
    assert traffic.failures == {}
    assert public_version() == "bg1"
    rollback = history_on_host(app_path)[-1]
    assert (rollback.kind.value, rollback.colour, rollback.outcome.value) == (
        "rollback", "blue", "healthy")
    assert "pull" not in dict(rollback.phases)  # the stopped colour was started again


def test_a_colour_that_never_gets_healthy_is_removed_before_the_switch(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    build_app_image: BuildAppImage, capsys: pytest.CaptureFixture[str],
) -> None:
    build_app_image("bad", broken=True)
    environ = bg_environ(ssh_host, app_path, proxy_image, health_timeout="4")
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    with Traffic() as traffic:
        assert main(["staging", "up", "bad"], environ) == 1
    assert traffic.failures == {}
    assert traffic.versions.keys() == {"bg1"}
    err = capsys.readouterr().err
    assert "no request reached it; bg1-lab still serves on blue" in err
    assert outcomes(app_path)[-1] == ("deploy", "bad", "failed")
    capsys.readouterr()
    assert main(["staging", "status", "--json"], environ) == 0
    colours = {c["colour"]: c["state"] for c in
               json.loads(capsys.readouterr().out)["layout"]["colours"]}
    assert colours == {"blue": "running", "green": "absent"}


def test_a_degraded_colour_is_switched_back_during_the_watch(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = bg_environ(ssh_host, app_path, proxy_image, watch="20")
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    with Traffic() as traffic:
        assert main(["staging", "up", "sour-lab"], environ) == 1
    err = capsys.readouterr().err
    assert "degraded after the switch" in err
    assert "bg1-lab serves on blue" in err
    assert public_version() == "bg1"
    assert traffic.statuses["500"] >= 3  # what the watch saw, and nothing else failed
    assert set(traffic.failures) == {"500"}
    history = history_on_host(app_path)
    assert [(r.kind.value, r.tag, r.outcome.value) for r in history[-2:]] == [
        ("deploy", "sour-lab", "failed"), ("auto_rollback", "bg1-lab", "healthy")]
    assert dict(history[-1].phases)["switch_back"] < 1.0
    assert dict(history[-2].phases)["watch"] < 20


def test_a_proxy_that_refuses_its_config_keeps_the_old_colour(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = bg_environ(ssh_host, app_path, proxy_image)
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    site = app_path.path / "proxy" / "conf" / "shipyard.conf"
    site.write_text(site.read_text() + "this is not nginx;\n")
    with Traffic() as traffic:
        assert main(["staging", "up", "bg2-lab"], environ) == 1
    assert traffic.failures == {}
    err = capsys.readouterr().err
    assert "refused the config that switches to green, so bg1-lab still serves on blue" in err
    assert "this" in err  # nginx's own complaint is shown
    assert public_version() == "bg1"
    assert "blue" in (app_path.path / "proxy" / "conf" / "live.upstream").read_text()
    assert outcomes(app_path)[-1] == ("deploy", "bg2-lab", "failed")
    assert "proxy refused" in history_on_host(app_path)[-1].message


def test_init_adopts_the_running_release_is_idempotent_and_refuses_the_unknown(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    recreate = target_environ(ssh_host, app_path)
    assert main(["staging", "up", "bg1-lab"], recreate) == 0
    environ = bg_environ(ssh_host, app_path, proxy_image)
    with Traffic() as traffic:
        assert main(["staging", "init"], environ) == 0
    out = capsys.readouterr().out
    with capsys.disabled():
        print(f"\ninit hand-over: {traffic.failures} failed, longest outage "
              f"{traffic.longest_outage():.3f}s")
    assert traffic.longest_outage() < 1.0  # the one moment the port changes hands
    assert "started api-blue with bg1-lab, healthy" in out
    assert "moved docker-compose.override.yml to .deploy/recreate/" in out
    assert public_version() == "bg1"
    assert traffic.versions["bg1"] > 0
    assert outcomes(app_path)[-1] == ("adopt", "bg1-lab", "healthy")
    assert main(["staging", "init"], environ) == 0
    assert "already blue-green; nothing changed" in capsys.readouterr().out
    assert main(["staging", "up", "bg2-lab"], environ) == 0
    assert public_version() == "bg2"


def test_init_refuses_a_compose_file_it_does_not_understand(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, capsys: pytest.CaptureFixture[str],
) -> None:
    compose = app_path.compose_file
    compose.write_text(compose.read_text() + "  db:\n    image: postgres:16\n    build: .\n")
    before = {p.name: p.read_bytes() for p in app_path.path.iterdir() if p.is_file()}
    environ = bg_environ(ssh_host, app_path, proxy_image)
    assert main(["staging", "init"], environ) == 2  # refused: nothing changed
    err = capsys.readouterr().err
    assert "init changed nothing" in err
    assert "expected exactly one service `api`, found ['api', 'db']" in err
    after = {p.name: p.read_bytes() for p in app_path.path.iterdir() if p.is_file()}
    assert after == before
    assert not (app_path.path / "proxy").exists()


def test_long_requests_complete_and_a_stream_is_kept_into_the_drain_then_closed_cleanly(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
) -> None:
    environ = bg_environ(ssh_host, app_path, proxy_image, watch="2", drain="3")
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    stream = EventStream().start()
    with Traffic(path="/slow?seconds=1", pause=0) as slow, Traffic() as quick:
        time.sleep(0.5)
        assert main(["staging", "up", "bg2-lab"], environ) == 0
        drained_at = time.monotonic()
    stream.join(timeout=10)
    assert slow.failures == {}
    assert quick.failures == {}
    assert slow.statuses["200"] >= 3
    drain = dict(history_on_host(app_path)[-1].phases)["drain"]
    assert 1.8 <= drain <= 6  # the lab app ends its streams 2 s after SIGTERM (STREAM_GRACE)
    assert stream.ended_at is not None
    print("stream ending:", stream.ending, "events:", len(stream.events), "drain:", drain,
          "ended after drain start:", stream.ended_at - (drained_at - drain))
    assert stream.ended_at - (drained_at - drain) >= 1.5  # open across the switch, into the drain
    assert stream.ended_at <= drained_at + 0.5
    assert (stream.ending, stream.closed_with) == ("complete", "server shutting down")
    assert {event.split()[1] for _, event in stream.events} == {"bg1"}  # never switched mid-way
    assert public_version() == "bg2"


def test_a_killed_deployer_is_settled_and_status_says_both_colours_run(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = bg_environ(ssh_host, app_path, proxy_image, lock_ttl="3")
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    child = subprocess.Popen(
        [sys.executable, "-m", "deploy", "staging", "up", "bg2-lab"], env={**os.environ, **environ},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(r.tag == "bg2-lab" and r.outcome is Outcome.STARTED
                      for r in history_on_host(app_path)):
            assert time.monotonic() < deadline, "the deploy never started"
            time.sleep(0.02)
        time.sleep(0.5)  # green is starting or being checked; blue still serves
    finally:
        child.kill()
        child.wait()
    time.sleep(3.5)  # the killed deployer's lease runs out
    capsys.readouterr()
    assert main(["staging", "status", "--json"], environ) == 0
    status = json.loads(capsys.readouterr().out)
    last = status["last_release"]  # reported; status records nothing
    assert (last["tag"], last["outcome"], last["running_tag"]) == ("bg2-lab", "interrupted",
                                                                   "bg1-lab")
    assert status["layout"]["serving_colour"] == "blue"
    assert public_version() == "bg1"
    states = {c["colour"]: c["state"] for c in status["layout"]["colours"]}
    if states["green"] == "running":
        assert "both colours run; only blue serves" in status["layout"]["warnings"][0]
    assert main(["staging", "up", "bg2-lab"], environ) == 0
    assert public_version() == "bg2"
    [settled] = [r for r in history_on_host(app_path) if r.outcome is Outcome.INTERRUPTED]
    assert (settled.tag, settled.outcome, settled.running_tag) == (
        "bg2-lab", Outcome.INTERRUPTED, "bg1-lab",
    )


def test_a_cut_after_the_switch_leaves_the_new_colour_serving_and_history_true(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
) -> None:
    environ = bg_environ(ssh_host, app_path, proxy_image, watch="3", lock_ttl="3")
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    with cuttable_proxy(ssh_host.port) as proxy, Traffic() as traffic:
        known = ssh_host.known_hosts_line.replace(f"]:{ssh_host.port} ", f"]:{proxy.port} ")
        cut_env = {**environ, "STAGING_SSH_PORT": str(proxy.port), "STAGING_KNOWN_HOSTS": known}

        def switched() -> bool:
            return any(r.tag == "bg2-lab" and "switch" in dict(r.phases)
                       for r in history_on_host(app_path))

        def cut_after_switch() -> None:
            deadline = time.monotonic() + 60
            while not switched() and time.monotonic() < deadline:
                time.sleep(0.01)
            proxy.cut()

        cutter = threading.Thread(target=cut_after_switch, daemon=True)
        cutter.start()
        assert main(["staging", "up", "bg2-lab"], cut_env) == 1
        cutter.join()
        assert proxy.cut_event.is_set()
        time.sleep(3.5)
    assert traffic.failures == {}
    assert public_version() == "bg2"
    assert main(["staging", "status"], environ) == 0
    assert main(["staging", "rollback"], environ) == 0  # holds the lock: records the attempt
    [settled] = [r for r in history_on_host(app_path) if r.outcome is Outcome.INTERRUPTED]
    assert (settled.tag, settled.outcome, settled.running_tag) == ("bg2-lab",
                                                                   Outcome.INTERRUPTED, "bg2-lab")
