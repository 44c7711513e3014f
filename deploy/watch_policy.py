"""Pure: what the proxy's log showed of a watched colour, and the window users saw its 5xx."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from deploy.proxy import ColourStats, colour_stats, parse_access_line

SETTLE_SECONDS = 1.0  # after the switch back: how long to wait for the old colour's first line


def combined(seen: ColourStats, more: ColourStats) -> ColourStats:
    """Two stretches of one colour's log as one."""
    return ColourStats(requests=seen.requests + more.requests, errors=seen.errors + more.errors,
                       slowest=max(seen.slowest, more.slowest))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Tally:
    """The watched colour's answers in the proxy's log so far; times are the log's $msec,
    so the host's clock, never the deployer's."""

    colour: str
    stats: ColourStats = field(default_factory=ColourStats)
    first_error_at: float | None = None
    last_error_at: float | None = None
    other_started_at: float | None = None  # the latest start of another colour's answer

    def read(self, lines: Iterable[str]) -> Tally:
        """This tally with more log lines counted (torn or foreign lines are skipped)."""
        batch = list(lines)
        first, last, other = self.first_error_at, self.last_error_at, self.other_started_at
        for line in batch:
            answer = parse_access_line(line)
            if answer is None:
                continue
            if answer.colour != self.colour:
                began = answer.at - answer.seconds
                other = began if other is None else max(other, began)
            elif answer.status >= 500:
                first = answer.at if first is None else min(first, answer.at)
                last = answer.at if last is None else max(last, answer.at)
        more = colour_stats(batch).get(self.colour, ColourStats())
        return Tally(self.colour, combined(self.stats, more), first, last, other)

    def settled(self, served_at: float) -> bool:
        """The old colour answered a request that began after `served_at` (the host's time
        after the switch back's reload), so the reload took and the log has caught up. (A
        long request the old colour took before the first switch does not count.)"""
        return self.other_started_at is not None and self.other_started_at >= served_at


@dataclass(frozen=True, slots=True)
class UserVisible:
    """What users saw of a bad colour: its 5xx answers, and the seconds from the first one
    to the old colour serving again (or to the last 5xx, when that came later)."""

    seconds: float
    errors: int

    def describe(self) -> str:
        return (f"users got {self.errors} answer{'s' if self.errors != 1 else ''} 5xx over "
                f"{self.seconds:.2f}s (from the first 5xx to the old colour serving, "
                "on the host's clock)")  # fmt: skip


def user_visible(tally: Tally, served_at: float | None) -> UserVisible | None:
    """The window users saw the watched colour's 5xx, or None when they saw none. Without the
    host's time of the switch back (`served_at` None), the window ends at the last 5xx."""
    if tally.first_error_at is None or tally.last_error_at is None:
        return None
    end = tally.last_error_at if served_at is None else max(served_at, tally.last_error_at)
    return UserVisible(round(max(0.0, end - tally.first_error_at), 3), tally.stats.errors)


def complete_lines(text: str) -> tuple[list[str], int]:
    """Polled log bytes → the whole lines in them, and how many bytes those lines take
    (a line still being written is read again at the next poll)."""
    end = text.rfind("\n") + 1
    return text[:end].splitlines(), len(text[:end].encode("utf-8"))
