"""Pure: nginx's per-attempt upstream fields ($upstream_addr, $upstream_status) → attempts."""

from __future__ import annotations

import re
from dataclasses import dataclass

# nginx writes one entry per attempt, ", " between the servers tried within one upstream group
# and " : " between groups (an internal redirect to another group). The answer is the last.
_SEPARATOR = re.compile(r", | : ")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a request at one upstream server."""

    address: str  # as nginx logs it: 127.0.0.1:8002
    status: int | None  # that attempt's status; None for "-" or a log line without statuses
    failed: bool  # refused, reset, timed out, or answered 5xx
    answered: bool  # the last attempt: the one whose answer the user got


def _split(text: str) -> list[str]:
    return [part.strip() for part in _SEPARATOR.split(text)]


def parse_attempts(addresses: str, statuses: str | None, status: int) -> tuple[Attempt, ...]:
    """`$upstream_addr` and `$upstream_status` (None: a line logged before the format had it)
    and the request's own `$status` → its attempts, the answer last.

    nginx goes on to the next server only after a failed attempt (`proxy_next_upstream`,
    by default `error timeout`), which it logs as 502 (refused, reset, closed unanswered), 504
    (timed out) or "-". So every attempt but the last failed unless its status says otherwise;
    the last failed when its status, else the request's, is 5xx."""
    if addresses.strip() in ("", "-"):  # nginx answered without an upstream
        return ()
    where = _split(addresses)
    codes: list[str | None] = list(_split(statuses)) if statuses is not None else []
    if len(codes) != len(where):  # an older line, or one nginx did not fill in: unknown
        codes = [None] * len(where)
    attempts = []
    for index, (address, code) in enumerate(zip(where, codes, strict=True)):
        last = index == len(where) - 1
        number = int(code) if code is not None and code.isascii() and code.isdigit() else None
        # "-" or unknown: failed unless it is the answer, whose fate is the request's status
        failed = number >= 500 if number is not None else (status >= 500 or not last)
        attempts.append(Attempt(address, number, failed, answered=last))
    return tuple(attempts)


def describe_retried(retried: int) -> str:
    """How a count of failed attempts that nginx retried elsewhere reads in a verdict."""
    noun = "attempt" if retried == 1 else "attempts"
    return f"{retried} failed {noun}: refused, reset or timed out, retried by nginx elsewhere"
