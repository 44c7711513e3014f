"""HTTP probes of the declared health path through a forwarded port; the consecutive-success
policy."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import anyio
import httpx

from deploy.config import HealthPolicy
from shipyard.declaration import Check
from shipyard.health import body_mismatch, check_problem, status_mismatch

DEFAULT_POLICY = HealthPolicy()


@dataclass(frozen=True, slots=True)
class Probe:
    """One answer (or non-answer) from the health path."""

    ok: bool
    detail: str
    identity: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the release became healthy, after how long, and the last probe."""

    healthy: bool
    seconds: float
    probes: int
    last: Probe


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a health wait stands: shown on long waits."""

    probes: int
    passes_in_a_row: int
    needed: int
    seconds: float
    timeout: float
    last: Probe
    done: bool = False

    def line(self) -> str:
        return (f"health: {self.passes_in_a_row}/{self.needed} passes in a row after "
                f"{self.probes} probes, {self.seconds:.0f}s of {self.timeout:.0f}s; "
                f"last answer: {self.last.detail}")  # fmt: skip


def passes_in_a_row(results: list[bool]) -> int:
    """Pure: how many of the latest probes passed, counting back to the last failure."""
    count = 0
    for ok in reversed(results):
        if not ok:
            break
        count += 1
    return count


def judge(probe_results: list[bool], needed: int) -> bool:
    """Pure policy: healthy once the last `needed` probes all passed."""
    return len(probe_results) >= needed and all(probe_results[-needed:])


async def probe(
    client: httpx.AsyncClient, url: str, policy: HealthPolicy = DEFAULT_POLICY,
    expect_commit: str | None = None,
) -> Probe:
    """One GET of the health path: a status and a JSON answer the declaration accepts, and
    (identity from the health answer) the expected commit in its field when one is known."""
    try:
        response = await client.get(url)
    except httpx.HTTPError as error:
        return Probe(ok=False, detail=f"no answer ({type(error).__name__})")
    wrong_status = status_mismatch(response.status_code, policy.statuses)
    if wrong_status is not None:
        return Probe(ok=False, detail=wrong_status)
    try:
        body = response.json()
    except ValueError:
        return Probe(ok=False, detail=f"HTTP {response.status_code} but not JSON")
    wrong_body = body_mismatch(policy.expect, body)
    if wrong_body is not None:
        return Probe(ok=False, detail=wrong_body[:200])
    answered = body.get(policy.identity_field) if isinstance(body, dict) else None
    if expect_commit and policy.identity == "health-json" and answered != expect_commit:
        return Probe(ok=False, detail=f"answered by commit {answered!r}, not ours")
    identity = {k: str(v) for k, v in body.items()} if isinstance(body, dict) else None
    return Probe(ok=True, detail="ok", identity=identity)


async def probe_port(
    local_port: int, policy: HealthPolicy, expect_commit: str | None = None
) -> Probe:
    """One probe of 127.0.0.1:`local_port` (a forwarded port) with a short timeout."""
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        url = f"http://127.0.0.1:{local_port}{policy.path}"
        return await probe(client, url, policy, expect_commit)


async def wait_healthy(
    local_port: int,
    policy: HealthPolicy,
    *,
    expect_commit: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[Progress], None] | None = None,
) -> Verdict:
    """Probe until `policy.successes` consecutive passes, or until `policy.timeout`;
    `progress` hears after every probe where the wait stands."""
    url = f"http://127.0.0.1:{local_port}{policy.path}"
    start = clock()
    results: list[bool] = []
    last = Probe(ok=False, detail="not probed")
    async with httpx.AsyncClient(timeout=min(5.0, policy.timeout), trust_env=False) as client:
        while True:
            last = await probe(client, url, policy, expect_commit)
            results.append(last.ok)
            elapsed = clock() - start
            healthy = judge(results, policy.successes)
            done = healthy or elapsed >= policy.timeout
            if progress is not None:
                progress(Progress(len(results), passes_in_a_row(results), policy.successes,
                                  elapsed, policy.timeout, last, done))  # fmt: skip
            if done:
                return Verdict(healthy, elapsed, len(results), last)
            await anyio.sleep(policy.interval)


@dataclass(frozen=True, slots=True)
class CheckFailure:
    """The first declared check a release failed: what it asked, what it got, how long."""

    check: Check
    problem: str
    seconds: float

    def line(self, when: str = "pre-switch") -> str:
        return f"{when} check failed: {self.problem} ({self.seconds:.2f}s)"


CHECK_TIMEOUT = 10.0  # seconds one check may take to answer


async def run_checks(
    base: str, checks: Sequence[Check], *, clock: Callable[[], float] = time.monotonic
) -> CheckFailure | None:
    """Each declared check, in order, against `base` (a new release's own port through the
    SSH tunnel before any user request reaches it, or a public URL after a deploy); the
    first failure, or None."""
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT, trust_env=False) as client:
        for check in checks:
            mark = clock()
            try:
                response = await client.request(check.method, f"{base}{check.path}")
            except httpx.HTTPError as error:
                where = f"{check.method} {check.path}"
                return CheckFailure(check, f"{where} got no answer ({type(error).__name__})",
                                    clock() - mark)  # fmt: skip
            problem = check_problem(check, response.status_code, response.text)
            if problem is not None:
                return CheckFailure(check, problem, clock() - mark)
    return None


SMOKE_COMMAND_TIMEOUT = 300.0  # seconds a declared smoke command may run
# What a declared smoke command inherits: never the deployer's SSH key or registry token.
COMMAND_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE",
                       "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "VIRTUAL_ENV")  # fmt: skip


async def run_smoke_command(
    argv: Sequence[str], base: str, *, environ: Mapping[str, str],
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """shipyard.toml's `smoke.command` (e.g. a pytest suite), given the release's base URL in
    SMOKE_BASE_URL and only harmless variables of `environ`; why it failed, or None."""
    env = {name: environ[name] for name in COMMAND_ENVIRONMENT if name in environ}
    env["SMOKE_BASE_URL"] = base
    mark = clock()
    shown = " ".join(argv)
    try:
        with anyio.fail_after(SMOKE_COMMAND_TIMEOUT):
            done = await anyio.run_process(list(argv), env=env, check=False,
                                           stderr=subprocess.STDOUT)  # fmt: skip
    except TimeoutError:
        return f"`{shown}` ran longer than {SMOKE_COMMAND_TIMEOUT:.0f}s"
    except OSError as error:
        return f"`{shown}` could not start: {error.strerror or error}"
    if done.returncode == 0:
        return None
    tail = done.stdout.decode(errors="replace").strip().splitlines()[-5:]
    return (f"`{shown}` exited {done.returncode} after {clock() - mark:.2f}s: "
            + " | ".join(tail))
