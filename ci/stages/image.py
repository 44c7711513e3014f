"""The service image as a lazy Dagger build from the project's Dockerfile, reproducible per
commit (used by the build stage and by every stage that needs the image)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagger

from ci.plan import ReleasePlan
from ci.settings import Settings


def created_at(source_date_epoch: int) -> str:
    return datetime.fromtimestamp(source_date_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_args(plan: ReleasePlan, settings: Settings, source_date_epoch: int) -> (
    list[dagger.BuildArg]
):
    """Everything the image says about itself comes from the commit, never the wall clock."""
    values = {
        "VERSION": plan.version,
        "COMMIT": plan.sha,
        "CREATED": created_at(source_date_epoch),
        "SOURCE": settings.source_url,
        "BASE_IMAGE": settings.base_image,
        # BuildKit clamps file and image timestamps to this (reproducible builds).
        "SOURCE_DATE_EPOCH": str(source_date_epoch),
    }
    return [dagger.BuildArg(name=name, value=value) for name, value in values.items()]


def image(
    src: dagger.Directory, plan: ReleasePlan, settings: Settings, source_date_epoch: int
) -> dagger.Container:
    """The service image, lazily: nothing runs until a stage awaits it."""
    return src.docker_build(
        dockerfile="Dockerfile", build_args=build_args(plan, settings, source_date_epoch)
    )
