"""Blue-green's watch under ~150 req/s: a bad release that the pre-switch checks do not catch
(none declared), switched back; the window users saw its 5xx, before (the log read every
0.5 s, the switch back by `docker exec` nginx -t + reload) and after (the log followed over
one SSH channel, the switch back by a HUP through Docker), in one run."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from bluegreen_benchmarks import locust_load, table
from prechecks_benchmarks import declare

from deploy.cli.main import main
from deploy.strategies.bluegreen import BlueGreen
from tests.integration.bluegreen_helpers import bg_environ, history_on_host
from tests.rig.apppath import AppPath
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

BAD_RELEASES = 5
RATE = 150  # /version requests per second asked of Locust
SLOW_IN_FLIGHT = 2  # 1 s requests kept in flight (they get 500 from the bad release too)
MODES = (("log read every 0.5 s, exec reload (before)", False),
         ("log followed, HUP reload (after)", True))


def test_the_user_visible_window_of_a_bad_release_polled_and_followed(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    lab_image("bg1")
    lab_image("sour", sour=True)
    declare(tmp_path / "no-checks", "")  # pre-switch checks would stop the bad release
    environ = bg_environ(ssh_host, app_path, proxy_image, watch="10", drain="2")
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    rows = [("watch", "bad releases", "req/s", "window median",
             "window max", "5xx in the ledger", "500s Locust got", "per release")]
    for name, fast in MODES:
        monkeypatch.setattr(BlueGreen, "fast_watch", fast)
        with locust_load(RATE, SLOW_IN_FLIGHT) as run:
            for _ in range(BAD_RELEASES):
                assert main(["staging", "up", "sour-lab"], environ) == 1
        failed = [r for r in history_on_host(app_path) if r.tag == "sour-lab"][-BAD_RELEASES:]
        windows = [dict(r.phases)["user_visible"] for r in failed]
        backs = [dict(r.phases)["switch_back"] for r in history_on_host(app_path)
                 if r.kind.value == "auto_rollback"][-BAD_RELEASES:]  # fmt: skip
        logged = sum(r.user_errors or 0 for r in failed)
        got = sum(1 for r in run.requests if r[3] == 500)
        quick = sum(1 for r in run.requests if r[2] == "/version")
        rows.append((name, str(BAD_RELEASES), f"{quick / run.seconds:.0f}",
                     f"{statistics.median(windows):.3f}s", f"{max(windows):.3f}s", str(logged),
                     str(got), f"{got / BAD_RELEASES:.0f}"))  # fmt: skip
        print(f"{name}: windows {', '.join(f'{w:.3f}' for w in windows)}; switch back "
              f"{', '.join(f'{b:.3f}' for b in backs)}")  # fmt: skip
    table("From the first 5xx in the proxy's log to the old colour serving (host clock), "
          f"blue-green, a bad release under ~{RATE} req/s", rows)  # fmt: skip
