"""The entry point: release a reference to an environment, or roll it back. Evidence, one host
or several, one result type; the CLI and the pipeline's deploy stage only render the result."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from deploy.config import Fleet, Target, check_tag
from deploy.deployer import Deployer
from deploy.errors import ConnectionFailed, DeployError
from deploy.evidence import Override, check_evidence, override_record
from deploy.fleet.each import Answer, host_deployer, on_every_host
from deploy.fleet.release import FleetRelease, HostOutcome, HostRun
from deploy.host.health import Progress
from deploy.host.remote import connect
from deploy.host.runner import Runner
from deploy.host.session import now_iso
from deploy.ledger import Outcome, Release
from deploy.verification import verifier_for


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    """Where a release ended on every host of the environment, in `<ENV>_HOSTS` order."""

    environment: str
    reference: str
    hosts: tuple[HostRun, ...]
    several: bool  # `<ENV>_HOSTS` named more than one host
    overridden: tuple[str, ...] = ()  # evidence that was missing, overridden with --force
    failure: DeployError | None = None  # one host: the error that ended its release

    @property
    def ok(self) -> bool:
        return self.failure is None and all(
            run.outcome is HostOutcome.DEPLOYED for run in self.hosts
        )

    @property
    def paused(self) -> Release | None:
        """A canary paused at a step (one host): its record; None otherwise."""
        release = self.hosts[0].release if len(self.hosts) == 1 else None
        return release if release and release.outcome is Outcome.PAUSED else None

    @property
    def failed(self) -> tuple[HostRun, ...]:
        return tuple(run for run in self.hosts if run.outcome is not HostOutcome.DEPLOYED)

    def error(self) -> str | None:
        """One sentence saying why the release did not land everywhere, or None."""
        if self.failure is not None:
            return str(self.failure)
        failed = self.failed
        if not failed:
            return None
        hosts = ", ".join(f"{run.target.label} {run.outcome}" for run in failed)
        return (f"{self.reference} was not deployed on every host ({len(failed)} of "
                f"{len(self.hosts)}: {hosts}); one line per host above says what runs "
                "there")  # fmt: skip


async def release(
    fleet: Fleet, reference: str, *, who: str, environ: Mapping[str, str],
    say: Callable[[str], None] = lambda _: None, override: Override | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> ReleaseResult:
    """Release `reference` (TAG or TAG@sha256:…) to every host of `fleet`, all or nothing.

    Refusals before any host is touched raise (a bad tag: InvalidInput; with
    `<ENV>_VERIFY_KEY`, a digest without trusted signatures: VerificationFailed; production
    without evidence: EvidenceMissing; a source environment's settings: ConfigError).
    Everything after is in the result, per host."""
    check_tag(reference)
    verifier, verified = verifier_for(fleet.targets[0], say), None
    if verifier is not None:  # the verified digest is what every host pulls
        verified = await verifier(reference)
        reference = verified[0]
    missing = await check_evidence(fleet.targets[0], reference, environ, override)
    note = None
    if missing and override is not None:
        note = override_record(reference, missing, override, who, now_iso())
        say(f"evidence overridden ({override.reason}): {'; '.join(missing)}")
    if fleet.several:
        runs = await FleetRelease(fleet, reference, who=who, say=say, note=note,
                                  verified=verified).run()  # fmt: skip
        return ReleaseResult(fleet.environment, reference, tuple(runs), several=True,
                             overridden=tuple(missing))  # fmt: skip
    run, failure = await release_one(fleet.targets[0], reference, note, who, say, progress,
                                     verified)  # fmt: skip
    return ReleaseResult(fleet.environment, reference, (run,), several=False,
                         overridden=tuple(missing), failure=failure)  # fmt: skip


async def release_one(
    target: Target, reference: str, note: Release | None, who: str,
    say: Callable[[str], None], progress: Callable[[Progress], None] | None,
    verified: tuple[str, str] | None = None,
) -> tuple[HostRun, DeployError | None]:
    """One host: its strategy's release, which leaves a known release serving on failure."""
    run = HostRun(target)
    try:
        async with connect(target) as runner:
            run.reached = True
            deployer = Deployer(runner, target, who=who, say=say, progress=progress)
            deployer.verified = verified
            done = await deployer.deploy(reference, note=note)
    except DeployError as error:
        unreached = isinstance(error, ConnectionFailed) and not run.reached
        run.outcome = HostOutcome.UNREACHABLE if unreached else HostOutcome.FAILED
        run.error = str(error)
        return run, error
    run.outcome, run.release, run.changed = HostOutcome.DEPLOYED, done, True
    run.running, run.digest = done.tag, done.digest
    run.healthy = None if done.outcome is Outcome.PAUSED else True  # paused: judged later
    return run, None


async def rollback(
    fleet: Fleet, to: str | None, *, who: str, say: Callable[[str], None] = lambda _: None,
    progress: Callable[[Progress], None] | None = None,
) -> list[Answer[Release]]:
    """Return every host of `fleet` to `to` (default: each host's last other healthy release);
    one answer per host. A host that fails keeps what its strategy left; the others are not
    undone (a rollback is the way back already). With `<ENV>_VERIFY_KEY`, each host's
    target is verified before that host pulls it (`to`: once, before any host)."""
    if to is not None:
        check_tag(to)
    verifier = verifier_for(fleet.targets[0], say)
    if verifier is not None and to is not None:
        await verifier(to)  # refused (VerificationFailed) before any host is reached

    def make(runner: Runner, target: Target) -> Deployer:
        if fleet.several:  # every line names its host
            deployer = host_deployer(runner, target, who, say)
        else:
            deployer = Deployer(runner, target, who=who, say=say, progress=progress)
        deployer.vet = verifier
        return deployer

    return await on_every_host(fleet, make, lambda deployer: deployer.rollback(to))
