"""Slack: run summary → incoming-webhook JSON; one POST that never raises nor shows the URL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

log = logging.getLogger(__name__)

NOT_CONFIGURED = "Slack: not configured (SLACK_WEBHOOK_URL unset)"
SENT = "Slack: sent"
NOT_HTTPS = "Slack: failed (the webhook URL is not https; not shown)"
HIDDEN_URL = "<the Slack webhook URL, not shown>"
LOOPBACK = "127.0.0.1"  # plain http is allowed to it only, for tests
MARKS = {
    "passed": ":white_check_mark:",
    "success": ":white_check_mark:",
    "failed": ":x:",
    "failure": ":x:",
    "skipped": ":fast_forward:",
}


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one pipeline run did, as the notification tells it."""

    ref: str
    sha: str
    stages: tuple[tuple[str, str], ...]  # (stage name, verdict), in run order
    outcome: str
    digest: str | None = None
    environment: str | None = None
    run_url: str | None = None


def build_message(summary: RunSummary) -> dict[str, Any]:
    """The incoming-webhook JSON: a plain `text` fallback plus Block Kit blocks."""
    text = headline(summary)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _mrkdwn(f"*{_escape(text)}*")},
        {"type": "section", "fields": [_mrkdwn(f"*{k}*\n{v}") for k, v in _facts(summary)]},
        {"type": "section", "text": _mrkdwn(f"*Stages*\n{stages_line(summary.stages)}")},
    ]
    if summary.run_url:
        link = f"<{_escape(summary.run_url)}|the run's log>"
        blocks.append({"type": "context", "elements": [_mrkdwn(f"See {link}.")]})
    return {"text": text, "blocks": blocks}


def headline(summary: RunSummary) -> str:
    """One line: outcome, ref, short commit and, when deployed, where."""
    where = f" → {summary.environment}" if summary.environment else ""
    return f"Pipeline {summary.outcome}: {summary.ref} @ {summary.sha[:12]}{where}"


def stages_line(stages: tuple[tuple[str, str], ...]) -> str:
    """`:white_check_mark: build passed · :x: test failed`, or a dash when none ran."""
    shown = (f"{MARKS.get(v.lower(), '•')} {_escape(n)} {_escape(v)}" for n, v in stages)
    return " · ".join(shown) or "—"


def _facts(summary: RunSummary) -> list[tuple[str, str]]:
    return [
        ("Ref", f"`{_escape(summary.ref)}`"),
        ("Commit", f"`{_escape(summary.sha[:12])}`"),
        ("Environment", _escape(summary.environment or "none")),
        ("Image digest", f"`{_escape(summary.digest)}`" if summary.digest else "none"),
    ]


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _escape(text: str) -> str:
    """Slack's three control characters in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def is_allowed_url(url: str) -> bool:
    """https to any host, or plain http to 127.0.0.1 only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(host)
    return parts.scheme == "http" and host == LOOPBACK


async def notify(
    summary: RunSummary,
    webhook_url: str | None,
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - a budget for a call that must never raise
) -> str:
    """POST the message; return a short line for the log. Never raises, never shows the URL."""
    url = (webhook_url or "").strip()
    if not url:
        return NOT_CONFIGURED
    if not is_allowed_url(url):
        return NOT_HTTPS
    try:
        with anyio.fail_after(timeout), _url_hidden_in_httpx_logs(url):
            status = await _post(url, build_message(summary), timeout)
    except Exception as error:  # a notification must never fail the run
        log.warning("Slack notification failed: %s", type(error).__name__)
        return f"Slack: failed ({type(error).__name__})"
    if 200 <= status < 300:
        return SENT
    log.warning("Slack notification refused: HTTP %d", status)
    return f"Slack: failed (HTTP {status})"


async def _post(url: str, message: dict[str, Any], seconds: float) -> int:
    async with httpx.AsyncClient(trust_env=False, timeout=seconds) as client:
        response = await client.post(url, json=message)
        return response.status_code


class _HideUrl(logging.Filter):
    """Hide the URL in httpx's `HTTP Request: POST <url> ...` line: its path is the secret."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.forms = {url, str(httpx.URL(url))}  # as given, and as httpx prints it

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(HIDDEN_URL if self._shows_url(a) else a for a in record.args)
        if self._shows_url(record.msg):
            record.msg, record.args = HIDDEN_URL, None
        return True

    def _shows_url(self, value: object) -> bool:
        return isinstance(value, str | httpx.URL) and any(f in str(value) for f in self.forms)


@contextmanager
def _url_hidden_in_httpx_logs(url: str) -> Iterator[None]:
    hide = _HideUrl(url)
    logger = logging.getLogger("httpx")
    logger.addFilter(hide)
    try:
        yield
    finally:
        logger.removeFilter(hide)
