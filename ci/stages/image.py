"""The service image as a lazy Dagger build of the declaration's `[build]` (context, Dockerfile,
target, arguments), reproducible per commit (used by the build stage and by every stage that
needs the image)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import PurePosixPath

import dagger

from ci.plan import ReleasePlan
from ci.settings import Settings
from shipyard.declaration import Build, dockerfile_in_context
from shipyard.errors import DeclarationError

# The build arguments the pipeline sets itself; `build.args` may not set them too.
PIPELINE_ARGS = ("VERSION", "COMMIT", "CREATED", "SOURCE", "BASE_IMAGE", "SOURCE_DATE_EPOCH")


def created_at(source_date_epoch: int) -> str:
    return datetime.fromtimestamp(source_date_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def context_path(build: Build) -> str:
    """`build.context` normalised: "." for the repository root, else `backend`-style."""
    return PurePosixPath(build.context).as_posix()


def check_build(build: Build) -> None:
    """Refuse, before anything runs, a `[build]` the pipeline cannot build as declared."""
    dockerfile_in_context(build)
    declared_args(build.args)


def declared_args(args: Mapping[str, str]) -> dict[str, str]:
    """`build.args`, refused when one of them is an argument the pipeline sets itself: those
    say which commit the image is (COMMIT feeds the revision label), so neither may silently
    replace the other."""
    for name in args:
        if name in PIPELINE_ARGS:
            fix = ("set the pipeline's BASE_IMAGE variable instead" if name == "BASE_IMAGE"
                   else "remove it: the pipeline sets it from the commit")
            raise DeclarationError("shipyard.toml", f"build.args.{name}",
                                   f"is a build argument the pipeline sets itself: {fix}")
    return dict(args)


def build_args(
    plan: ReleasePlan, settings: Settings, source_date_epoch: int,
    declared: Mapping[str, str] | None = None,
) -> list[dagger.BuildArg]:  # fmt: skip
    """The declaration's arguments, then everything the image says about itself, which comes
    from the commit, never the wall clock."""
    values = build_arg_values(plan, settings, source_date_epoch, declared)
    return [dagger.BuildArg(name=name, value=value) for name, value in values.items()]


def build_arg_values(
    plan: ReleasePlan, settings: Settings, source_date_epoch: int,
    declared: Mapping[str, str] | None = None,
) -> dict[str, str]:  # fmt: skip
    """The build arguments by name (also what the provenance statement records)."""
    return {
        **declared_args(declared or {}),
        "VERSION": plan.version,
        "COMMIT": plan.sha,
        "CREATED": created_at(source_date_epoch),
        "SOURCE": settings.source_url,
        "BASE_IMAGE": settings.base_image,
        # BuildKit clamps file and image timestamps to this (reproducible builds).
        "SOURCE_DATE_EPOCH": str(source_date_epoch),
    }


def image(
    src: dagger.Directory, plan: ReleasePlan, settings: Settings, source_date_epoch: int,
    build: Build | None = None,
) -> dagger.Container:  # fmt: skip
    """The service image, lazily: nothing runs until a stage awaits it."""
    build = build or Build()
    context = context_path(build)
    return (src if context == "." else src.directory(context)).docker_build(
        dockerfile=dockerfile_in_context(build),
        target=build.target or "",
        build_args=build_args(plan, settings, source_date_epoch, build.args),
    )
