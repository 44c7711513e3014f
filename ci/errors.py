"""The pipeline's exceptions, one tree.

    CiError                      anything the pipeline refuses or fails at
    ├── PlanError                a ref, SHA or event that no release rule accepts
    ├── ContextError             where we run (git, GitHub variables) cannot be read
    ├── EngineUnavailable        no Dagger engine to talk to
    ├── StageFailed              a command inside a stage exited non-zero
    ├── RegistryError            the image registry refused or answered nonsense
    │   └── PromotionRefused     the image to promote is not the one that was tested
    └── ScanError                a scanner crashed or wrote a report we cannot read
"""

from __future__ import annotations


class CiError(Exception):
    """Base of every error the pipeline raises on purpose."""


class PlanError(CiError):
    """A ref, SHA or event that no release rule accepts."""

    def __init__(self, message: str, *, value: str) -> None:
        super().__init__(message)
        self.value = value


class ContextError(CiError):
    """The ref and commit to plan for cannot be found."""


class EngineUnavailable(CiError):
    """No Dagger engine could be reached."""


class StageFailed(CiError):
    """A command inside a stage exited non-zero."""

    def __init__(
        self, stage: str, command: list[str], exit_code: int, stderr_tail: str,
        *, tool: str | None = None,
    ) -> None:
        shown = " ".join(command)
        where = f"{tool}: " if tool else ""
        super().__init__(
            f"stage {stage!r} failed: {where}`{shown}` exited {exit_code}\n{stderr_tail}".rstrip()
        )
        self.stage = stage
        self.tool = tool
        self.command = command
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


class RegistryError(CiError):
    """The registry refused a request or answered something unreadable."""


class PromotionRefused(RegistryError):
    """The image under the source tag is not the one built for this commit."""


class ScanError(CiError):
    """A scanner crashed, or its report cannot be read."""
