"""Locust load through the proxy, in its own process (gevent patches sockets): every request's
start, duration and outcome are written as JSON lines for the benchmark to slice by time.

    python benchmarks/load.py --host http://127.0.0.1:8000 --rate 300 --slow 4 --seconds 90 OUT
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
from locust import FastHttpUser, constant_pacing, constant_throughput, task  # noqa: E402
from locust.env import Environment  # noqa: E402

QUICK_USERS = 20
RECORDS: list[tuple[float, float, str, int, str]] = []


class Quick(FastHttpUser):
    """The everyday request: /version, paced so that all users together make --rate req/s."""

    wait_time = constant_throughput(1.0)

    @task
    def version(self) -> None:
        self.client.get("/version", name="/version")


class Slow(FastHttpUser):
    """A 1 s request, back to back: one always in flight per user, across every switch
    (paced, so a refused connection is not retried in a tight loop)."""

    wait_time = constant_pacing(1.0)

    @task
    def slow(self) -> None:
        self.client.get("/slow?seconds=1", name="/slow")


def record(
    request_type: str, name: str, response_time: float, response_length: int,
    response: Any = None, exception: BaseException | None = None, start_time: float = 0.0,
    **_: Any,
) -> None:
    status = int(getattr(response, "status_code", 0) or 0)
    outcome = type(exception).__name__ if exception else "ok"
    RECORDS.append((start_time, response_time / 1000, name, status, outcome))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--host", default="http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, default=300.0, help="quick requests per second")
    parser.add_argument("--slow", type=int, default=4, help="1 s requests kept in flight")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    if urlsplit(args.host).hostname != "127.0.0.1" or not 0 < args.seconds <= 600:
        parser.error("load goes to 127.0.0.1 only, for at most 600 s")
    Quick.wait_time = constant_throughput(args.rate / QUICK_USERS)
    Slow.fixed_count = args.slow
    environment = Environment(user_classes=[Quick, Slow], host=args.host)
    environment.events.request.add_listener(record)  # type: ignore[no-untyped-call]
    runner = environment.create_local_runner()
    started = time.time()
    runner.start(QUICK_USERS + args.slow, spawn_rate=100)
    stop = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)  # the benchmark's "enough"
    stop.wait(timeout=args.seconds)
    runner.quit()
    with open(args.out, "w") as out:
        json.dump({"started": started, "stopped": time.time(), "requests": RECORDS}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
