"""Canary on the real loopback rig: weighted steps in nginx, judged from its access log;
pause, promote, abort; and production refused without staging evidence."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from deploy.cli.main import main
from deploy.ledger import Kind, Outcome
from deploy.proxy import DEFAULT_COLOUR_PORTS, ColourNumbers, colour_addresses, colour_numbers
from tests.integration.bluegreen_helpers import Traffic, bg_environ, history_on_host
from tests.integration.canary_load import load
from tests.integration.deploy_helpers import target_environ
from tests.integration.evidence_helpers import (
    production_environ,
    repo_digest,
    staging_ledger_with,
    staging_record,
)
from tests.rig.apppath import AppPath
from tests.rig.images import BuildAppImage
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig
SPLIT_REQUESTS = 2000


def canary_environ(
    ssh_host: SshHost, app: AppPath, proxy_image: str, **extra: str
) -> dict[str, str]:
    return bg_environ(ssh_host, app, proxy_image, strategy="canary", **extra)


def access_lines(app: AppPath) -> list[str]:
    log = app.path / "proxy" / "logs" / "access.log"
    return log.read_text().splitlines() if log.exists() else []


def numbers_of(app: AppPath, colour: str) -> ColourNumbers:
    """The colour's numbers over the whole access log, every attempt counted."""
    numbers = colour_numbers(access_lines(app), colour_addresses(DEFAULT_COLOUR_PORTS))
    return numbers.get(colour, ColourNumbers())


def errors_of(app: AppPath, colour: str) -> int:
    return numbers_of(app, colour).errors


def running_services(app: AppPath) -> set[str]:
    found = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True,
                           text=True, check=True)  # fmt: skip
    project = app.path.name
    return {name for name in found.stdout.split() if project in name}


def first_release(environ: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "cn1-lab"], environ) == 0  # nothing stable yet: at once
    capsys.readouterr()


def test_a_canary_answering_5_percent_500_is_aborted_in_its_first_step(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab_image("cn1")
    lab_image("flaky", flaky=True)
    environ = canary_environ(ssh_host, app_path, proxy_image, canary_steps="20:60,50:60,100",
                             canary_min_requests="60")  # fmt: skip
    first_release(environ, capsys)
    stable_errors = errors_of(app_path, "blue")
    with Traffic(pause=0.002) as traffic:
        assert main(["staging", "up", "flaky-lab"], environ) == 1
    error = capsys.readouterr().err
    assert "aborted (5xx ratio" in error
    assert "stable blue:" in error
    last = history_on_host(app_path)[-1]
    assert (last.tag, last.outcome, last.colour) == ("flaky-lab", Outcome.FAILED, "green")
    phases = dict(last.phases)
    assert phases["step1"] < 60  # aborted before its first step's 60 s were over
    assert "step2" not in phases
    assert phases["to_zero"] < 2.0
    assert errors_of(app_path, "blue") == stable_errors == 0
    assert traffic.statuses["200"] > 0
    assert set(traffic.failures) <= {"500"}  # only the canary's own 500s, no refusals
    versions, _statuses = load(200)
    assert versions == {"cn1": 200}
    assert not any("api-green" in name for name in running_services(app_path))


CRASH_AFTER = 30  # the crashing canary's process dies on every 30th request


@pytest.mark.parametrize("log_format", ["current", "before $upstream_status"])
def test_a_canary_whose_process_keeps_dying_is_aborted_though_retries_hide_it(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages,
    capsys: pytest.CaptureFixture[str], log_format: str,
) -> None:
    """nginx retries each attempt the dying canary refused or dropped on the stable colour, so
    users see no error; the canary's failed attempts still count against it, also on a host
    whose site config still has the log format before $upstream_status (until `init`)."""
    lab_image("cn1")
    lab_image("crashy", exit_after=CRASH_AFTER)
    environ = canary_environ(ssh_host, app_path, proxy_image, canary_steps="25:30,50:30,100",
                             canary_min_requests="60")  # fmt: skip
    first_release(environ, capsys)
    site = app_path.path / "proxy" / "conf" / "shipyard.conf"
    old = log_format != "current"
    if old:  # the first step's reload takes it in
        site.write_text(site.read_text().replace("\\t$upstream_status", ""))
    with Traffic(pause=0.002) as traffic:
        started = time.monotonic()
        assert main(["staging", "up", "crashy-lab"], environ) == 1
        took = time.monotonic() - started
    error = capsys.readouterr().err
    with capsys.disabled():
        print(f"\ncrashing canary ({log_format}): {traffic.statuses} in {took:.1f}s "
              f"({sum(traffic.statuses.values()) / took:.0f} req/s); "
              f"{error.strip().splitlines()[-1]}")
    assert ("logs no $upstream_status" in error) == old
    tried_twice = "127.0.0.1:8002, 127.0.0.1:8001"  # green failed, then blue answered
    retried = [line.split("\t") for line in access_lines(app_path) if tried_twice in line]
    assert retried
    assert {len(fields) for fields in retried} == {6 if old else 7}
    assert "aborted (5xx ratio" in error
    assert "failed attempts" in error  # the refused/dropped attempts are named
    releases = history_on_host(app_path)
    assert not [r for r in releases if r.tag == "crashy-lab" and r.outcome is Outcome.HEALTHY]
    last = releases[-1]
    assert (last.tag, last.outcome, last.colour) == ("crashy-lab", Outcome.FAILED, "green")
    assert "failed attempts" in last.message
    assert "step2" not in dict(last.phases)  # aborted in its first step
    assert numbers_of(app_path, "green").retried > 0  # the attempts nginx moved to blue
    assert errors_of(app_path, "blue") == 0
    assert traffic.statuses["200"] > 0
    assert not {"500", "502", "504"} & set(traffic.failures)  # the retries protected users
    versions, _statuses = load(100)
    assert versions == {"cn1": 100}
    assert not any("api-green" in name for name in running_services(app_path))
    if old:
        assert main(["staging", "init"], environ) == 0
        assert "wrote proxy/conf/shipyard.conf" in capsys.readouterr().out
        assert "\\t$upstream_status\\t" in site.read_text()


def test_paused_steps_split_by_weight_then_promote_to_all(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab_image("cn1")
    lab_image("cn2")
    environ = canary_environ(ssh_host, app_path, proxy_image, canary_steps="10,50,100")
    first_release(environ, capsys)
    assert main(["staging", "up", "cn2-lab"], environ) == 0
    assert "paused at 10 % until promote" in capsys.readouterr().out
    for weight in (10, 50):
        versions, statuses = load(SPLIT_REQUESTS)
        assert statuses == {"200": SPLIT_REQUESTS}
        observed = 100 * versions["cn2"] / SPLIT_REQUESTS
        assert abs(observed - weight) <= 2, (weight, versions)
        assert main(["staging", "status", "--json", "--no-probe"], environ) == 0
        canary = json.loads(capsys.readouterr().out)["layout"]["canary"]
        assert canary["paused"]
        assert canary["weights"] == {"blue": 100 - weight, "green": weight}
        assert canary["numbers"]["green"].startswith(f"{versions['cn2']} requests, 0 5xx")
        assert main(["staging", "promote"], environ) == 0
        promoted = capsys.readouterr().out
    assert "serves on green (canary completed)" in promoted
    versions, _ = load(100)
    assert versions == {"cn2": 100}
    last = history_on_host(app_path)[-1]
    assert (last.tag, last.outcome) == ("cn2-lab", Outcome.HEALTHY)
    assert "drain" in dict(last.phases)


def test_abort_of_a_paused_canary_leaves_the_stable_colour_alone(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab_image("cn1")
    lab_image("cn2")
    environ = canary_environ(ssh_host, app_path, proxy_image, canary_steps="25,100")
    first_release(environ, capsys)
    assert main(["staging", "up", "cn2-lab"], environ) == 0
    assert main(["staging", "up", "cn2-lab"], environ) == 2  # refused: a canary is in progress
    assert "promote` or `... abort` first" in capsys.readouterr().err
    assert main(["staging", "abort"], environ) == 0
    assert "0 % on green" in capsys.readouterr().out
    versions, _ = load(200)
    assert versions == {"cn1": 200}
    assert main(["staging", "promote"], environ) == 2  # refused: nothing to promote
    assert "No canary is paused" in capsys.readouterr().err
    assert history_on_host(app_path)[-1].outcome is Outcome.FAILED


def test_a_digest_without_a_staging_record_is_refused_for_production(
    ssh_host: SshHost, app_path: AppPath, build_app_image: BuildAppImage,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = build_app_image("ev1")
    digest = repo_digest(image)
    pinned = f"ev1@{digest}"
    elsewhere = staging_record("s1", "ev0", "sha256:" + "0" * 64)
    staging_path = staging_ledger_with(app_path, elsewhere)
    environ = production_environ(target_environ(ssh_host, app_path), staging_path)
    assert main(["production", "up", pinned], environ) == 2  # refused by policy
    error = capsys.readouterr().err
    assert f"no healthy deploy of {digest} on staging" in error
    assert "--force --reason" in error
    assert history_on_host(app_path) == []  # nothing was started on production
    assert main(["production", "up", "ev1"], environ) == 2
    assert "is not pinned" in capsys.readouterr().err
    assert main(["production", "up", pinned, "--force"], environ) == 2
    assert main(["production", "up", pinned, "--force", "--reason", "hotfix INC-42"],
                environ) == 0  # fmt: skip
    note, deployed = history_on_host(app_path)
    assert (note.kind, note.outcome, note.digest) == (Kind.OVERRIDE, Outcome.RECORDED, digest)
    assert "hotfix INC-42" in note.message
    assert "no healthy deploy" in note.message
    assert (deployed.kind, deployed.outcome) == (Kind.DEPLOY, Outcome.HEALTHY)
    proven = staging_record("s2", "ev1", digest)
    gate_failed = staging_record("s3", "ev1", digest, Outcome.FAILED, Kind.LOAD_GATE)
    staging_ledger_with(app_path, elsewhere, proven, gate_failed)
    assert main(["production", "up", pinned], environ) == 2
    assert "failed the load gate on staging" in capsys.readouterr().err
    staging_ledger_with(app_path, elsewhere, proven)
    assert main(["production", "up", pinned], environ) == 0
