"""Pure: verdicts on the host's state — free disk for a pull, clock skew, the deploy lock."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from deploy import commands as cmd
from deploy.doctor.verdicts import Facts, Judgement, Output, failed, passed, warned
from deploy.ledger import parse_lock

GIB = 1024**3
DISK_FAIL_BELOW = 1 * GIB  # an app image's layers, extracted, plus the old release's
DISK_WARN_BELOW = 5 * GIB  # room for a few releases before pulls start failing
SKEW_WARN_ABOVE = 5.0  # seconds: ledger times and logs stop lining up
SKEW_FAIL_ABOVE = 60.0  # seconds: registry tokens and TLS validity checks start to fail


def parse_df(stdout: str) -> tuple[str, int] | None:
    """(mount point, available bytes) from `echo ROOT; df -Pk ROOT` output."""
    lines = [line.split() for line in stdout.strip().splitlines()]
    data = lines[-1] if len(lines) >= 3 else []
    if len(data) < 6 or not data[3].isdigit():
        return None
    return data[5], int(data[3]) * 1024


def disk_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    done = outputs[0]
    parsed = parse_df(done.stdout) if done.ok else None
    if parsed is None:
        return warned(
            f"could not read free space: {done.said()}",
            "Check `df -h /var/lib/docker` on the host by hand.",
        )
    mount, free = parsed
    root = done.stdout.split("\n", 1)[0].strip()
    seen = f"{free / GIB:.1f} GiB free on {mount} (Docker data in {root})"
    fix = f"Free space on {mount}: `docker image prune` removes images no container uses."
    if free < DISK_FAIL_BELOW:
        return failed(f"{seen}: below {DISK_FAIL_BELOW // GIB} GiB, a pull would fail", fix)
    if free < DISK_WARN_BELOW:
        return warned(f"{seen}: below {DISK_WARN_BELOW // GIB} GiB", fix)
    return passed(seen)


def clock_skew(host_time: float, started: float, finished: float) -> tuple[float, float]:
    """(skew, uncertainty): host minus the deployer's midpoint; half the round trip."""
    return host_time - (started + finished) / 2, (finished - started) / 2


HOST_TIME = re.compile(r"\d+(\.\d+)?")  # `date` without %N prints "SECONDS.%N"


def clock_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    done = outputs[0]
    number = HOST_TIME.match(done.stdout.strip())
    if not done.ok or number is None:
        return warned(
            f"the host's `date +%s.%N` printed {done.said()!r}",
            "Check the host's clock by hand (timedatectl).",
        )
    host_time = float(number.group(0))
    skew, uncertainty = clock_skew(host_time, done.started, done.finished)
    beyond = abs(skew) - uncertainty  # only what the measurement cannot explain
    seen = f"host clock {skew:+.2f}s from the deployer's (±{uncertainty:.2f}s)"
    fix = "Run NTP on the host (timedatectl set-ntp true) and on the deployer."
    if beyond > SKEW_FAIL_ABOVE:
        return failed(f"{seen}: above {SKEW_FAIL_ABOVE:.0f}s", fix)
    if beyond > SKEW_WARN_ABOVE:
        return warned(f"{seen}: above {SKEW_WARN_ABOVE:.0f}s", fix)
    return passed(seen)


def lock_verdict(outputs: tuple[Output, ...], facts: Facts) -> Judgement:
    done = outputs[0]
    unlock = f"python -m deploy {facts.environment} unlock"
    if done.exit_status == 3:
        return passed("free")
    lock = parse_lock(done.stdout) if done.ok else None
    if lock is None:
        return warned(
            f"{cmd.LOCK_FILE} is unreadable: {done.said()}",
            f"The next deploy treats it as stale and breaks it; or `{unlock}`.",
        )
    now = done.finished
    since = datetime.fromtimestamp(lock.acquired_at, UTC).isoformat(timespec="seconds")
    who = f"held by {lock.owner}" + (f" ({lock.reason})" if lock.reason else "")
    if lock.expires_at is None:
        return warned(f"{who} since {since}, taken by hand: it stays until `{unlock}`",
                      f"Run `{unlock}` when the maintenance is over.")
    if lock.expired(now):
        return warned(
            f"stale: {who} since {since}, expired {now - lock.expires_at:.0f}s ago",
            f"Nothing needed: the next deploy breaks it; or `{unlock}`.",
        )
    return warned(
        f"{who} since {since} ({now - lock.acquired_at:.0f}s), expires in "
        f"{lock.expires_at - now:.0f}s",
        f"Wait for that deploy to finish, or `{unlock}` if it is gone.",
    )
