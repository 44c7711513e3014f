"""Pure: flags, then LOADTEST_* variables, then defaults → the load test's LoadConfig."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadtest.errors import ConfigError
from loadtest.profile import Profile
from loadtest.thresholds import Thresholds

URL_VARIABLE = "LOADTEST_URL"
DURATION_PATTERN = re.compile(r"([0-9]{1,5})\s*(s|m)?")
MAX_USERS = 1000
MAX_DURATION_S = 3600
MAX_LATENCY_MS = 600_000.0


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """Where to send load, how much, for how long, what passes, and where the report goes."""

    url: str
    users: int = 10
    spawn_rate: float = 10.0
    duration_s: int = 30
    thresholds: Thresholds = field(default_factory=Thresholds)
    reports: Path = Path("reports/loadtest")
    profile: Profile = field(default_factory=Profile)  # what is requested: the declaration's


@dataclass(frozen=True, slots=True)
class Setting:
    """One knob: its flag, its variable, how its text is read, and what it means."""

    name: str
    flag: str
    variable: str
    read: Callable[[str], Any]
    rule: str
    help: str


def _number(text: str, kind: Callable[[str], float], low: float, high: float) -> float:
    value = kind(text.strip())
    if not low <= value <= high or value != value:  # NaN compares false
        raise ValueError(text)
    return value


def read_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username \
            or parts.password or parts.query or parts.fragment or any(c.isspace() for c in text):
        raise ValueError(text)
    return text.strip().rstrip("/")


def read_users(text: str) -> int:
    return int(_number(text, int, 1, MAX_USERS))


def read_spawn_rate(text: str) -> float:
    value = _number(text, float, 0, MAX_USERS)
    if value <= 0:
        raise ValueError(text)
    return value


def read_duration(text: str) -> int:
    match = DURATION_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    seconds = int(match[1]) * (60 if match[2] == "m" else 1)
    return int(_number(str(seconds), int, 1, MAX_DURATION_S))


def read_ratio(text: str) -> float:
    stripped = text.strip()
    value = float(stripped.removesuffix("%")) / (100 if stripped.endswith("%") else 1)
    if not 0 < value <= 1:
        raise ValueError(text)
    return value


def read_latency(text: str) -> float:
    value = _number(text, float, 0, MAX_LATENCY_MS)
    if value <= 0:
        raise ValueError(text)
    return value


def read_reports(text: str) -> Path:
    if not text.strip():
        raise ValueError(text)
    return Path(text.strip())


SETTINGS = (
    Setting("url", "--url", URL_VARIABLE, read_url,
            "an http:// or https:// URL without credentials, query or fragment",
            "the service to load, e.g. https://staging.example.com"),
    Setting("users", "--users", "LOADTEST_USERS", read_users,
            f"a whole number of users from 1 to {MAX_USERS}", "concurrent users (default 10)"),
    Setting("spawn_rate", "--spawn-rate", "LOADTEST_SPAWN_RATE", read_spawn_rate,
            f"users started per second, above 0 and at most {MAX_USERS}",
            "users started per second (default 10)"),
    Setting("duration_s", "--duration", "LOADTEST_DURATION", read_duration,
            f"a duration like 30, 30s or 2m, from 1 s to {MAX_DURATION_S // 60} m",
            "how long the load runs (default 30s)"),
    Setting("max_failure_ratio", "--max-failure-ratio", "LOADTEST_MAX_FAILURE_RATIO", read_ratio,
            "a ratio above 0 and at most 1 (0.01) or a percentage (1%)",
            "passes while the failure ratio is below it (default 0.01 = 1 %%)"),
    Setting("p95_ms", "--p95-ms", "LOADTEST_P95_MS", read_latency,
            f"milliseconds above 0 and at most {MAX_LATENCY_MS:g}",
            "passes while p95 latency is below it (default 500)"),
    Setting("p99_ms", "--p99-ms", "LOADTEST_P99_MS", read_latency,
            f"milliseconds above 0 and at most {MAX_LATENCY_MS:g}",
            "passes while p99 latency is below it (default: not checked)"),
    Setting("reports", "--reports", "LOADTEST_REPORTS", read_reports, "a folder path",
            "where the CSV, HTML and JSON reports go (default reports/loadtest)"),
)  # fmt: skip
THRESHOLD_NAMES = ("max_failure_ratio", "p95_ms", "p99_ms")


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The load test's flags; each one's variable is named in its help."""
    for setting in SETTINGS:
        parser.add_argument(setting.flag, dest=setting.name, metavar=setting.variable.removeprefix(
            "LOADTEST_"), help=f"{setting.help} [env {setting.variable}]")


def resolve(flags: Mapping[str, str | None], environ: Mapping[str, str]) -> LoadConfig:
    """Each value from its flag, else its variable (empty = unset), else the default."""
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        flag_value = flags.get(setting.name)
        source, text = (setting.flag, flag_value) if flag_value is not None else (
            setting.variable, environ.get(setting.variable, ""))
        if flag_value is None and not text.strip():
            continue
        values[setting.name] = _read(setting, source, text)
    if "url" not in values:
        raise ConfigError(f"No target to load: pass --url URL or set {URL_VARIABLE} (for "
                          "example to the staging URL).")
    limits = {name: values.pop(name) for name in THRESHOLD_NAMES if name in values}
    return LoadConfig(thresholds=Thresholds(**limits), **values)


def _read(setting: Setting, source: str, text: str) -> Any:
    try:
        return setting.read(text)
    except ValueError:
        shown = text if setting.name != "url" else _redacted(text)
        raise ConfigError(f"{source}: {shown!r} is not {setting.rule}; set it to a valid value "
                          f"or unset it for the default.") from None


def _redacted(url: str) -> str:
    """A URL with any user:password@ replaced, so a refused URL never shows a secret."""
    return re.sub(r"//[^/@]*@", "//***@", url)


def to_argv(config: LoadConfig) -> tuple[str, ...]:
    """The flags that make `python -m loadtest` run exactly `config`."""
    limits = config.thresholds
    argv = ["--url", config.url, "--users", str(config.users),
            "--spawn-rate", repr(config.spawn_rate), "--duration", f"{config.duration_s}s",
            "--max-failure-ratio", repr(limits.max_failure_ratio),
            "--p95-ms", repr(limits.p95_ms)]  # fmt: skip
    if limits.p99_ms is not None:
        argv += ["--p99-ms", repr(limits.p99_ms)]
    return (*argv, "--reports", str(config.reports))
