"""Pure: environment variables → the pipeline's Settings (registry, image, secrets masked)."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ci.errors import CiError
from deploy.config import Secret
from supply.errors import SupplyError
from supply.keys import signing_key

REGISTRY_PATTERN = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?")
REPOSITORY_PATTERN = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*")
DEFAULT_REPOSITORY = "acout/fastapi-supabase-template"
DEFAULT_BASE_IMAGE = "python:3.12-slim-bookworm"
IMAGE_REFERENCE_PATTERN = re.compile(
    r"[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[0-9a-f]{64})?"
)
SCANNERS = ("bandit", "pip-audit", "gitleaks", "safety")
# The one place the Dagger version is pinned: pyproject.toml's dagger-io requirement. The
# CLI that scripts/setup and the workflow install, and the schema the tests check, follow it.
DAGGER_VERSION = importlib.metadata.version("dagger-io")


class SettingsError(CiError):
    """A pipeline variable is malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Where images go, which secrets exist, and where reports are written."""

    registry: str = "ghcr.io"
    repository: str = DEFAULT_REPOSITORY
    registry_username: str | None = None
    registry_password: Secret | None = field(default=None, repr=False)
    safety_api_key: Secret | None = field(default=None, repr=False)
    slack_webhook_url: Secret | None = field(default=None, repr=False)
    signing_key: Secret | None = field(default=None, repr=False)  # PEM: signs what is published
    source_url: str = f"https://github.com/{DEFAULT_REPOSITORY}"
    run_url: str | None = None
    base_image: str = DEFAULT_BASE_IMAGE  # the Dockerfile's base, the tests' and scanners'
    skip_scans: frozenset[str] = frozenset()
    source_date_epoch: int | None = None
    reports: Path = Path("reports")
    step_summary: Path | None = None

    @property
    def image(self) -> str:
        return f"{self.registry}/{self.repository}"

    def secrets(self) -> list[str]:
        """Every secret's plaintext, for scrubbing output."""
        held = (self.registry_password, self.safety_api_key, self.slack_webhook_url)
        found = [secret.reveal() for secret in held if secret is not None]
        if self.signing_key is not None:  # the key's lines, however a tool might print it
            found += [line for line in self.signing_key.reveal().splitlines()
                      if line.strip() and not line.startswith("-----")]  # fmt: skip
            found.append(self.signing_key.reveal())
        return found


def load_settings(environ: Mapping[str, str], root: Path) -> Settings:
    """Read REGISTRY, IMAGE_REPOSITORY, GITHUB_*, *_PASSWORD/TOKEN/KEY/URL, SIGNING_KEY, BASE_IMAGE,
    CI_SKIP_SCANS, SOURCE_DATE_EPOCH and CI_REPORTS_DIR."""
    repository = (
        environ.get("IMAGE_REPOSITORY") or environ.get("GITHUB_REPOSITORY") or DEFAULT_REPOSITORY
    ).lower()
    registry = (environ.get("REGISTRY") or "ghcr.io").lower()
    _check("REGISTRY", registry, REGISTRY_PATTERN, "a registry host[:port], e.g. ghcr.io")
    _check("IMAGE_REPOSITORY", repository, REPOSITORY_PATTERN, "a path like owner/name")
    server = environ.get("GITHUB_SERVER_URL", "https://github.com")
    run_id = environ.get("GITHUB_RUN_ID")
    summary = environ.get("GITHUB_STEP_SUMMARY")
    return Settings(
        registry=registry,
        repository=repository,
        registry_username=environ.get("REGISTRY_USERNAME") or environ.get("GITHUB_ACTOR"),
        registry_password=_secret(environ, "REGISTRY_PASSWORD", "GITHUB_TOKEN"),
        safety_api_key=_secret(environ, "SAFETY_API_KEY"),
        slack_webhook_url=_secret(environ, "SLACK_WEBHOOK_URL"),
        signing_key=_signing_key(environ),
        source_url=f"{server}/{environ.get('GITHUB_REPOSITORY', DEFAULT_REPOSITORY)}",
        run_url=(
            f"{server}/{environ['GITHUB_REPOSITORY']}/actions/runs/{run_id}"
            if run_id and environ.get("GITHUB_REPOSITORY")
            else None
        ),
        base_image=_base_image(environ),
        skip_scans=_skip_scans(environ),
        source_date_epoch=_source_date_epoch(environ),
        reports=Path(environ.get("CI_REPORTS_DIR") or root / "reports"),
        step_summary=Path(summary) if summary else None,
    )


def _base_image(environ: Mapping[str, str]) -> str:
    value = environ.get("BASE_IMAGE") or DEFAULT_BASE_IMAGE
    if "PYTHON_IMAGE" in environ:
        raise SettingsError(
            "PYTHON_IMAGE is no longer read: the image, its tests and the scanners share "
            "BASE_IMAGE now; set BASE_IMAGE (for example python:3.12-slim-bookworm@sha256:...)."
        )
    _check("BASE_IMAGE", value, IMAGE_REFERENCE_PATTERN,
           "an image reference, e.g. python:3.12-slim-bookworm or name:tag@sha256:<64 hex>")
    return value


def _skip_scans(environ: Mapping[str, str]) -> frozenset[str]:
    names = {name.strip() for name in environ.get("CI_SKIP_SCANS", "").split(",") if name.strip()}
    unknown = sorted(names - set(SCANNERS))
    if unknown:
        raise SettingsError(
            f"CI_SKIP_SCANS: {unknown[0]!r} is not a scanner: use a comma-separated list of "
            f"{', '.join(SCANNERS)}."
        )
    return frozenset(names)


def _source_date_epoch(environ: Mapping[str, str]) -> int | None:
    value = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise SettingsError(
            f"SOURCE_DATE_EPOCH: {value!r} is not a number of seconds since 1970; unset it to "
            "take the commit's time."
        )
    return int(value)


def _signing_key(environ: Mapping[str, str]) -> Secret | None:
    """SIGNING_KEY, refused before the run when it is not a usable key (never shown)."""
    found = _secret(environ, "SIGNING_KEY")
    if found is not None:
        try:
            signing_key(found.reveal())
        except SupplyError as error:
            raise SettingsError(str(error)) from None
    return found


def _secret(environ: Mapping[str, str], *names: str) -> Secret | None:
    for name in names:
        if environ.get(name):
            return Secret(environ[name])
    return None


def _check(variable: str, value: str, pattern: re.Pattern[str], what: str) -> None:
    if not pattern.fullmatch(value):
        raise SettingsError(f"{variable}: {value!r} is not {what}.")
