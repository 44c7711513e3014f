"""Canary: the new colour beside the stable one, weights stepped up in nginx, each step judged
from the proxy's own access log; a breach sends the weight back to 0 and removes the canary."""

from __future__ import annotations

from dataclasses import replace

import anyio

from deploy import commands as cmd
from deploy.canary_policy import (
    CanaryState,
    Decision,
    Step,
    Verdict,
    judge_step,
    parse_canary_state,
    parse_steps,
)
from deploy.errors import CanaryAborted, InvalidInput, PreflightFailed, ProxyRejected
from deploy.host.session import HostSession
from deploy.layout import colour_service
from deploy.ledger import Kind, Outcome, Release
from deploy.proxy import (
    ACCESS_LOG,
    LIVE_FILE,
    SITE_FILE,
    ColourNumbers,
    colour_addresses,
    colour_numbers,
    other,
    parse_weights,
    weighted_upstream,
)
from deploy.strategies.base import CanaryView, Layout
from deploy.strategies.bluegreen import BlueGreen

STATE_FILE = f"{cmd.STATE_DIR}/canary.json"
JUDGE_INTERVAL = 0.5


class Canary(BlueGreen):
    """Blue-green's colours and proxy, with the switch made in weighted steps."""

    name = "canary"

    def __init__(self, deployer: HostSession) -> None:
        super().__init__(deployer)
        self.limits = deployer.target.canary.thresholds

    # -- state on the host -----------------------------------------------------------------

    async def state(self) -> CanaryState | None:
        return parse_canary_state(await self.host.runner.read_file(self.host.file(STATE_FILE)))

    async def save_state(self, state: CanaryState | None) -> None:
        path = self.host.file(STATE_FILE)
        if state is None:
            await self.host.runner.run(cmd.Command(("rm", "-f", path)))
        else:
            await self.host.runner.write_file(path, state.to_text())

    async def numbers_since(self, offset: int) -> dict[str, ColourNumbers]:
        """Every attempt at each colour since `offset`, told by the address nginx tried."""
        log = await self.host.runner.run(cmd.read_from(self.host.file(ACCESS_LOG), offset),
                                         check=False)  # fmt: skip
        ports = (self._ports  # checked by release and promote; `status` takes what is laid out
                 or await self.laid_out_ports() or self.host.target.release.colour_ports)
        return colour_numbers(log.stdout.splitlines(), colour_addresses(ports))

    async def layout(self) -> Layout:
        base, state = await super().layout(), await self.state()
        if state is None:
            return base
        steps = parse_steps(state.steps)
        history = {r.id: r for r in await self.host.history()}
        paused = getattr(history.get(state.release_id), "outcome", None) is Outcome.PAUSED
        numbers = await self.numbers_since(state.log_offset)
        view = CanaryView(
            state.step + 1, len(steps), steps[state.step].describe(), paused,
            parse_weights(await self.live_file(),
                          await self.laid_out_ports() or self.host.target.release.colour_ports),
            {colour: n.describe() for colour, n in sorted(numbers.items())},
        )  # fmt: skip
        return replace(base, canary=view, warnings=())

    # -- a release ---------------------------------------------------------------------------

    async def release(self, tag: str, kind: Kind, previous: str | None) -> Release:
        host = self.host
        waiting = await self.state()
        if waiting is not None:  # refused: nothing changes until promote or abort
            raise InvalidInput(
                f"A canary is in progress on {waiting.canary} (step {waiting.step + 1}): run "
                f"`python -m deploy {host.target.environment} promote` or `... abort` first."
            )
        await self.colour_ports()  # refuses a layout on other ports before anything changes
        live = await self.serving_colour()
        states = await self.states()
        live_running = live is not None and getattr(
            states.get(colour_service(live)), "state", "") == "running"
        if live is None or not live_running or kind is not Kind.DEPLOY:
            # Nothing stable to compare with, or a rollback: switched at once, blue-green style.
            return await super().release(tag, kind, previous)
        if "127.0.0.1:" not in (await self.live_file() or ""):
            raise PreflightFailed(
                "A canary is judged per colour from the address that answered, which needs the "
                "host-network layout (colours on 127.0.0.1, `<ENV>_COLOUR_PORTS`); use "
                f"{host.target.prefix}_STRATEGY=blue-green for a bridge-network app folder."
            )
        await self.note_old_log_format()
        record, _, phases = await self.start_colour(tag, kind, previous, other(live), live)
        steps = host.target.canary.steps
        return await self.run_steps(record, live, steps, 0, phases)

    async def note_old_log_format(self) -> None:
        """A site config written before `$upstream_status` was logged is still judged (an
        attempt nginx moved on from failed); `init` rewrites it to log each attempt's status."""
        site = await self.host.runner.read_file(self.host.file(SITE_FILE))
        if site is not None and "$upstream_addr" in site and "$upstream_status" not in site:
            self.host.say(
                f"{SITE_FILE} logs no $upstream_status (an older format): the canary is judged "
                "from the attempts in $upstream_addr; `python -m deploy "
                f"{self.host.target.environment} init` rewrites it to log each attempt's status"
            )

    async def run_steps(
        self, record: Release, stable: str, steps: tuple[Step, ...], first: int,
        phases: dict[str, float],
    ) -> Release:
        """Steps `first`… : set the weight, judge (or pause), and at 100 % finish as blue-green."""
        host, canary = self.host, record.colour or "?"
        text = ",".join(f"{s.weight}:{s.seconds}" if s.seconds else str(s.weight) for s in steps)
        for index in range(first, len(steps)):
            step = steps[index]
            if step.weight == 100:
                return await self.complete(record, stable, phases)
            mark = host.clock()
            await self.set_weights(stable, canary, step.weight)
            state = CanaryState(record.id, stable, canary, index, text, await self.log_size(),
                                host.clock())  # fmt: skip
            await self.save_state(state)
            host.say(f"step {index + 1}/{len(steps)}: {step.describe()} to {canary}")
            if step.seconds is None:
                return await self.pause(record, state, f"paused at {step.describe()}", phases)
            verdict, numbers = await self.judge(state, step)
            phases[f"step{index + 1}"] = host.clock() - mark
            if verdict.decision is Decision.ABORT:
                await self.abort(record, stable, verdict, numbers, phases)
            if verdict.decision is Decision.INCONCLUSIVE:
                return await self.pause(record, state, verdict.reasons[0], phases)
        return await self.complete(record, stable, phases)

    async def judge(
        self, state: CanaryState, step: Step
    ) -> tuple[Verdict, dict[str, ColourNumbers]]:
        """Read the proxy's log every JUDGE_INTERVAL until the step's verdict is not WAIT."""
        host = self.host
        while True:
            numbers = await self.numbers_since(state.log_offset)
            over = host.clock() - state.started_at >= (step.seconds or 0)
            verdict = judge_step(numbers.get(state.canary, ColourNumbers()),
                                 numbers.get(state.stable, ColourNumbers()), self.limits,
                                 step_over=over)  # fmt: skip
            if verdict.decision is not Decision.WAIT:
                return verdict, numbers
            await anyio.sleep(JUDGE_INTERVAL)

    async def pause(
        self, record: Release, state: CanaryState, why: str, phases: dict[str, float]
    ) -> Release:
        host = self.host
        env = host.target.environment
        message = (f"canary {record.tag} on {state.canary}: {why}; run `python -m deploy {env} "
                   "promote` to go on or `abort` to remove it")  # fmt: skip
        paused = replace(host.finish(record, Outcome.PAUSED, message, phases), finished_at=None)
        await host.record(paused)
        host.say(message)
        return paused

    async def complete(self, record: Release, stable: str, phases: dict[str, float]) -> Release:
        host, canary = self.host, record.colour or "?"
        mark = host.clock()
        await self.switch_to(canary, serving=stable, previous=record.previous_tag)
        phases["switch"] = host.clock() - mark
        await self.save_state(None)
        await self.drain(stable, phases)
        done = host.finish(record, Outcome.HEALTHY, f"{record.tag} serves on {canary} "
                           "(canary completed)", phases)  # fmt: skip
        await host.record(done)
        host.say(f"{record.tag} serves on {canary}")
        return done

    async def abort(
        self, record: Release, stable: str, verdict: Verdict,
        numbers: dict[str, ColourNumbers], phases: dict[str, float],
    ) -> None:
        """Weight back to 0 (the stable colour alone), canary removed, FAILED recorded; raises."""
        message = await self.back_to_stable(record, stable, "; ".join(verdict.reasons), phases)
        canary = numbers.get(record.colour or "?", ColourNumbers())
        stable_numbers = numbers.get(stable, ColourNumbers())
        raise CanaryAborted(f"{message}. Canary: {canary.describe()}; stable "
                            f"{stable}: {stable_numbers.describe()}.")  # fmt: skip

    async def back_to_stable(
        self, record: Release, stable: str, why: str, phases: dict[str, float]
    ) -> str:
        host, canary = self.host, record.colour or "?"
        mark = host.clock()
        await self.switch_to(stable, serving=stable, previous=record.previous_tag)
        phases["to_zero"] = host.clock() - mark
        await host.runner.run(cmd.compose_remove(host.tool, host.path, colour_service(canary)),
                              check=False)  # fmt: skip
        await self.save_state(None)
        message = (f"canary {record.tag} aborted ({why}): 0 % on {canary} after "
                   f"{phases['to_zero']:.2f}s, canary removed; {record.previous_tag} serves "
                   f"on {stable}, untouched")  # fmt: skip
        await host.record(host.finish(record, Outcome.FAILED, message, phases))
        host.say(message)
        return message

    async def set_weights(self, stable: str, canary: str, weight: int) -> None:
        """Write the weighted live.upstream and reload; a refused config is put back."""
        host = self.host
        path = host.file(LIVE_FILE)
        before = await self.live_file()
        weights = {stable: 100 - weight, canary: weight}
        await host.runner.write_file(path, weighted_upstream(
            stable, weights, host_network=True, ports=await self.colour_ports(),
            app_port=host.target.app_port))  # fmt: skip
        done = await host.runner.run(cmd.proxy_switch(await self.proxy_container()), check=False)
        if not done.ok:
            if before is not None:
                await host.runner.write_file(path, before)
            raise ProxyRejected(
                f"The proxy refused the weights {weights}; {stable} still serves alone: "
                f"{(done.stderr or done.stdout).strip()[-300:] or 'no output'}."
            )

    # -- promote and abort by hand -------------------------------------------------------------

    async def paused(self) -> tuple[CanaryState, Release]:
        state = await self.state()
        record = {r.id: r for r in await self.host.history()}.get(
            state.release_id if state else "")
        # INTERRUPTED: the deployer died mid-step; the state file still says where it was.
        if state is None or record is None or record.outcome not in (Outcome.PAUSED,
                                                                     Outcome.INTERRUPTED):
            raise InvalidInput(
                f"No canary is paused on {self.host.target.environment}: nothing to promote "
                "or abort (`status` shows what runs)."
            )
        return state, record

    async def promote(self) -> Release:
        state, record = await self.paused()
        await self.colour_ports()
        steps = parse_steps(state.steps)
        self.host.say(f"promoting the canary past step {state.step + 1}")
        resumed = replace(record, outcome=Outcome.STARTED)
        await self.host.record(resumed)
        return await self.run_steps(resumed, state.stable, steps, state.step + 1,
                                    dict(record.phases))  # fmt: skip

    async def abort_by_hand(self) -> str:
        state, record = await self.paused()
        await self.colour_ports()
        return await self.back_to_stable(record, state.stable, f"aborted by {self.host.who}",
                                         dict(record.phases))  # fmt: skip
