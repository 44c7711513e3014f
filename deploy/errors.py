"""The deployer's exceptions, one tree. `refused` ones (R) turned the request down before
anything changed: the CLIs exit 2 for them, 1 for the others (a release that failed).

    DeployError                  anything the deployer refuses or fails at
    ├── ConfigError          (R) a missing or malformed variable; names it
    ├── InvalidInput         (R) a tag, reference or path that could be misread
    ├── ConnectionFailed         SSH could not connect (host key, auth, network)
    ├── RemoteCommandFailed      a command on the host exited non-zero
    ├── LockHeld             (R) another deployer holds the host's lock
    ├── PreflightFailed          the host is not ready (no app path, no compose file)
    ├── PullFailed               the new image could not be pulled; nothing changed
    ├── HealthCheckFailed        the new release never became healthy, or degraded (rolled back)
    ├── ProxyRejected            the proxy refused its new config; the old colour still serves
    │   └── ProxyPortTaken       the proxy could not listen: another process holds its port
    ├── PortTaken            (R) the port the proxy would take is held already; nothing changed
    ├── InitRefused          (R) init met a compose file it does not understand; nothing changed
    ├── NothingToRollBack    (R) no earlier release to go back to
    ├── CanaryAborted            a canary step breached a threshold; the stable colour serves
    ├── EvidenceMissing      (R) production asked for a digest not proven on staging
    └── VerificationFailed   (R) the digest carries no signature by a trusted key (or its
                                 provenance or SBOM is missing); says what was missing
"""

from __future__ import annotations

from typing import ClassVar


class DeployError(Exception):
    """Base of every error the deployer raises on purpose."""

    refused: ClassVar[bool] = False  # turned down before anything changed (exit 2)


class ConfigError(DeployError):
    """A configuration variable is missing or malformed."""

    refused = True

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


class InvalidInput(DeployError):
    """A tag, image reference or path was refused before anything ran."""

    refused = True


class ConnectionFailed(DeployError):
    """The SSH connection could not be made or was lost."""


class RemoteCommandFailed(DeployError):
    """A command on the host exited non-zero."""

    def __init__(self, command: str, exit_status: int, stderr: str) -> None:
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        super().__init__(f"`{command}` exited {exit_status} on the host: {tail}".rstrip(": "))
        self.command = command
        self.exit_status = exit_status
        self.stderr = stderr


class LockHeld(DeployError):
    """Another deployer holds the host's lock."""

    refused = True


class PreflightFailed(DeployError):
    """The host is not ready for a deploy."""


class PullFailed(DeployError):
    """The new image could not be pulled; the running service was not touched."""


class HealthCheckFailed(DeployError):
    """The new release did not become healthy."""


class ProxyRejected(DeployError):
    """The proxy refused the new config (`nginx -t`); it kept serving the old colour."""


class ProxyPortTaken(ProxyRejected):
    """The proxy could not bind its listen address (in use); its config was fine."""


class PortTaken(DeployError):
    """The port a new proxy would listen on is held by another listener; nothing changed."""

    refused = True


class InitRefused(DeployError):
    """`init` did not understand the app folder; it changed nothing."""

    refused = True


class NothingToRollBack(DeployError):
    """There is no earlier healthy release to return to."""

    refused = True


class CanaryAborted(DeployError):
    """A canary step breached a threshold (or was aborted): the stable colour serves alone."""


class EvidenceMissing(DeployError):
    """The release has no record of passing where it must have passed first (staging)."""

    refused = True


class VerificationFailed(DeployError):
    """`<ENV>_VERIFY_KEY` is set and the release's digest did not verify against it."""

    refused = True
