"""What every stage gets: the plan, settings, the source, the built image and what ran."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import dagger
from dagger import dag

from ci.errors import StageFailed
from ci.plan import ReleasePlan
from ci.registry import RegistryClient
from ci.settings import Settings
from ci.stages.image import created_at, image
from ci.stages.steps import StepFailure
from shipyard.declaration import Declaration

SOURCE_EXCLUDES = [
    ".venv", "**/__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
    "reports", "*.egg-info", "build", "dist",
]  # fmt: skip
LOCK_CONSTRAINTS = "app/constraints.txt"  # the same pins without hashes, for `pip -c`
PIP_CACHE = "/root/.cache/pip"
PIP_CACHE_VOLUME = "shipyard-pip"


@dataclass(frozen=True, slots=True)
class DebugSite:
    """Where a failed command can be re-run by hand: the container just before it."""

    container: dagger.Container
    command: tuple[str, ...]
    tool: str | None = None


@dataclass
class Artifacts:
    """What stages hand on: the image digest and every address published or promoted."""

    digest: str | None = None
    published: list[str] = field(default_factory=list)


@dataclass
class StageContext:
    """One run's shared state; stages read it and record artifacts and debug sites."""

    plan: ReleasePlan
    settings: Settings
    root: Path
    say: Callable[[str], None]
    source_date_epoch: int
    declaration: Declaration = field(default_factory=Declaration)
    today: date = field(default_factory=lambda: datetime.now(UTC).date())
    artifacts: Artifacts = field(default_factory=Artifacts)
    debug: dict[str, DebugSite] = field(default_factory=dict)
    _image: dagger.Container | None = None

    @property
    def created(self) -> str:
        """The image's creation time: the commit's, so a rebuild of it is the same image."""
        return created_at(self.source_date_epoch)

    def source(self, *, with_git: bool = False) -> dagger.Directory:
        """The repository as the engine sees it: .gitignore'd and cache paths left out."""
        excludes = SOURCE_EXCLUDES if with_git else [*SOURCE_EXCLUDES, ".git"]
        return dag.host().directory(str(self.root), exclude=excludes, gitignore=True)

    def image(self) -> dagger.Container:
        """The service image, built once per run (lazily) as the declaration's [build] says."""
        if self._image is None:
            self._image = image(self.source(), self.plan, self.settings,
                                self.source_date_epoch, self.declaration.build)
        return self._image

    def failed_at(self, stage: str, site: DebugSite) -> None:
        """Remember the first failing command of a stage, for `--interactive`."""
        self.debug.setdefault(stage, site)

    def step_failed(self, stage: str, failure: StepFailure, tool: str | None = None) -> (
        StageFailed
    ):
        """The verdict for a failed step; its container is kept to re-run the step by hand."""
        self.failed_at(stage, DebugSite(failure.before, failure.argv, tool))
        return StageFailed(stage, list(failure.argv), failure.exit_code, failure.output_tail,
                           tool=tool)

    def registry(self) -> RegistryClient:
        password = self.settings.registry_password
        return RegistryClient(
            self.settings.registry, self.settings.repository,
            username=self.settings.registry_username,
            password=password.reveal() if password else None,
        )  # fmt: skip


def pip_cache(ctr: dagger.Container) -> dagger.Container:
    """Mount the shared pip cache volume, so re-runs reuse downloaded wheels."""
    return ctr.with_mounted_cache(PIP_CACHE, dag.cache_volume(PIP_CACHE_VOLUME))
